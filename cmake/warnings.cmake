# Warnings every target gets. CI turns them into errors (WARNINGS_AS_ERRORS).
set(ONEWINDOW_WARNINGS
    -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wpointer-arith -Wcast-qual -Wwrite-strings -Wformat=2 -Wundef
    -Wvla -Wimplicit-fallthrough -Wno-unused-parameter)
if(WARNINGS_AS_ERRORS)
  list(APPEND ONEWINDOW_WARNINGS -Werror)
endif()
add_compile_options(${ONEWINDOW_WARNINGS})
# protoc-c's HALL__*__INIT macros cast a const empty string to char *; gcc
# does not report casts expanded from a system header's macro, clang does.
# gcc (the CI compiler) keeps -Wcast-qual for our own code.
if(CMAKE_C_COMPILER_ID MATCHES "Clang")
  add_compile_options(-Wno-cast-qual)
endif()
