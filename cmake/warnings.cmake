# Warnings every target gets. CI turns them into errors (WARNINGS_AS_ERRORS).
set(ONEWINDOW_WARNINGS
    -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wpointer-arith -Wcast-qual -Wwrite-strings -Wformat=2 -Wundef
    -Wvla -Wimplicit-fallthrough -Wno-unused-parameter)
if(WARNINGS_AS_ERRORS)
  list(APPEND ONEWINDOW_WARNINGS -Werror)
endif()
add_compile_options(${ONEWINDOW_WARNINGS})
