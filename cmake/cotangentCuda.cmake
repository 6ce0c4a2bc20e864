# The CUDA backend's libraries: the toolkit's runtime, cuBLAS and NVRTC (CMake's FindCUDAToolkit)
# and cuDNN 9, found in the toolkit's directories or the system's. No nvcc and no CUDA language
# are needed: the kernels are CUDA C compiled by NVRTC at run time. Sets COTANGENT_CUDA_FOUND and
# COTANGENT_CUDA_MISSING (what was not found).
include_guard(GLOBAL)
find_package(CUDAToolkit 12 QUIET)
set(COTANGENT_CUDA_FOUND OFF)
set(COTANGENT_CUDA_MISSING "")
if(NOT CUDAToolkit_FOUND)
  set(COTANGENT_CUDA_MISSING "the CUDA toolkit 12 or later")
elseif(NOT TARGET CUDA::cudart OR NOT TARGET CUDA::cublas OR NOT TARGET CUDA::nvrtc)
  set(COTANGENT_CUDA_MISSING "cudart, cuBLAS or NVRTC in the CUDA toolkit")
else()
  if(NOT TARGET cotangent::cudnn)
    find_path(COTANGENT_CUDNN_INCLUDE_DIR cudnn_version.h HINTS ${CUDAToolkit_INCLUDE_DIRS})
    find_library(COTANGENT_CUDNN_LIBRARY cudnn HINTS ${CUDAToolkit_LIBRARY_DIR})
    if(COTANGENT_CUDNN_INCLUDE_DIR AND COTANGENT_CUDNN_LIBRARY)
      file(STRINGS ${COTANGENT_CUDNN_INCLUDE_DIR}/cudnn_version.h COTANGENT_CUDNN_MAJOR
           REGEX "^#define CUDNN_MAJOR [0-9]+")
      string(REGEX REPLACE "^#define CUDNN_MAJOR ([0-9]+).*" "\\1" COTANGENT_CUDNN_MAJOR "${COTANGENT_CUDNN_MAJOR}")
      if(COTANGENT_CUDNN_MAJOR GREATER_EQUAL 9)
        add_library(cotangent::cudnn UNKNOWN IMPORTED)
        set_target_properties(cotangent::cudnn PROPERTIES
          IMPORTED_LOCATION ${COTANGENT_CUDNN_LIBRARY}
          INTERFACE_INCLUDE_DIRECTORIES ${COTANGENT_CUDNN_INCLUDE_DIR})
      endif()
    endif()
  endif()
  if(TARGET cotangent::cudnn)
    set(COTANGENT_CUDA_FOUND ON)
  else()
    set(COTANGENT_CUDA_MISSING "cuDNN 9 (cudnn_version.h and libcudnn)")
  endif()
endif()
