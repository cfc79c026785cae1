# One place for the warning set: strict, and errors in this repository.
function(sdmm_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
    -Wno-sign-conversion $<$<BOOL:${SDMM_WERROR}>:-Werror>)
endfunction()
