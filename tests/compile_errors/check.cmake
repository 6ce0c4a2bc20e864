# Compiles SOURCE, which must fail with the message on its "// expect:" line, and in few lines:
# a mistake in user code gives one readable error, not pages of template instantiations.
file(STRINGS ${SOURCE} expect REGEX "^// expect: ")
string(REPLACE "// expect: " "" expect "${expect}")
execute_process(COMMAND ${COMPILER} -std=c++20 -fsyntax-only -I${INCLUDE} ${SOURCE}
                RESULT_VARIABLE rc ERROR_VARIABLE errors OUTPUT_QUIET)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but must not")
endif()
string(FIND "${errors}" "${expect}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "the errors of ${SOURCE} do not say '${expect}':\n${errors}")
endif()
string(REGEX MATCHALL "error:" count "${errors}")
list(LENGTH count n)
if(n GREATER 3)
  message(FATAL_ERROR "${SOURCE} gives ${n} errors, not one clear one:\n${errors}")
endif()
