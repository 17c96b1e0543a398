# ENABLE_SANITIZERS: AddressSanitizer + UndefinedBehaviorSanitizer on everything.
# Any UB report aborts, so a test that trips one fails instead of printing.
if(ENABLE_SANITIZERS)
  set(ONEWINDOW_SAN_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all
                          -fno-omit-frame-pointer)
  add_compile_options(${ONEWINDOW_SAN_FLAGS})
  add_link_options(${ONEWINDOW_SAN_FLAGS})
endif()

# ENABLE_FUZZ: libFuzzer targets exist only with clang.
if(ENABLE_FUZZ AND NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "ENABLE_FUZZ needs clang: configure with -DCMAKE_C_COMPILER=clang")
endif()
