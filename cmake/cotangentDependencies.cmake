# The libraries cotangent links, as imported targets found by name on this machine, so that the
# build and an installed package's consumers resolve them the same way and the exported target
# carries no absolute path of the machine it was built on.
#
# oneDNN and OpenBLAS are found directly, not through oneDNN's CMake package: Debian's
# dnnl-config.cmake requires OpenCL (for a GPU runtime cotangent does not use), and
# ocl-icd-opencl-dev is only a recommendation of libdnnl-dev.
include_guard(GLOBAL)
include(CMakeFindDependencyMacro)
find_dependency(OpenMP)
find_dependency(Threads)
find_dependency(CURL)
find_dependency(OpenSSL)
find_dependency(ZLIB)

if(NOT TARGET gloo)
  # Gloo: the collectives of data-parallel training (TCP transport).
  find_package(Gloo QUIET)
  if(NOT TARGET gloo)
    message(FATAL_ERROR "cotangent: Gloo not found: apt-get install libgloo-dev")
  endif()
endif()

if(NOT TARGET cotangent::openblas)
  # OpenBLAS built on OpenMP: one threading runtime for BLAS and cotangent's own loops.
  find_path(COTANGENT_OPENBLAS_INCLUDE_DIR cblas.h
    PATHS /usr/include/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp NO_DEFAULT_PATH)
  find_library(COTANGENT_OPENBLAS_LIBRARY openblas
    PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp NO_DEFAULT_PATH)
  if(NOT COTANGENT_OPENBLAS_INCLUDE_DIR OR NOT COTANGENT_OPENBLAS_LIBRARY)
    message(FATAL_ERROR "cotangent: OpenBLAS (OpenMP build) not found: apt-get install libopenblas-openmp-dev")
  endif()
  add_library(cotangent::openblas UNKNOWN IMPORTED)
  set_target_properties(cotangent::openblas PROPERTIES
    IMPORTED_LOCATION ${COTANGENT_OPENBLAS_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${COTANGENT_OPENBLAS_INCLUDE_DIR})
endif()

if(NOT TARGET cotangent::dnnl)
  find_library(COTANGENT_DNNL_LIBRARY dnnl)
  find_path(COTANGENT_DNNL_INCLUDE_DIR dnnl.hpp)
  if(NOT COTANGENT_DNNL_LIBRARY OR NOT COTANGENT_DNNL_INCLUDE_DIR)
    message(FATAL_ERROR "cotangent: oneDNN not found: apt-get install libdnnl-dev")
  endif()
  add_library(cotangent::dnnl UNKNOWN IMPORTED)
  set_target_properties(cotangent::dnnl PROPERTIES
    IMPORTED_LOCATION ${COTANGENT_DNNL_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${COTANGENT_DNNL_INCLUDE_DIR})
endif()
