# tok_add_library(name SRCS...
#   [DEPENDS tablegen-targets...]
#   [TOK_LIBS tok-libraries...]
#   [MLIR_LIBS mlir-libraries...])
#
# Adds a static tok library. Tok libraries link each other directly; MLIR
# libraries go through mlir_target_link_libraries, which substitutes the
# shared libMLIR.so when TOK_LINK_MLIR_DYLIB is on. Never list an MLIR library
# in TOK_LIBS: mixing the dylib with static MLIR archives registers every
# command-line option twice and aborts at start-up.
#
# Every tok library is installed into the TokTargets export set, which
# TokConfig.cmake imports.
function(tok_add_library name)
  cmake_parse_arguments(ARG "" "" "DEPENDS;TOK_LIBS;MLIR_LIBS" ${ARGN})
  add_mlir_library(${name}
    ${ARG_UNPARSED_ARGUMENTS}
    DISABLE_INSTALL
    EXCLUDE_FROM_LIBMLIR
    DEPENDS ${ARG_DEPENDS}
    LINK_LIBS PUBLIC ${ARG_TOK_LIBS})
  if(ARG_MLIR_LIBS)
    mlir_target_link_libraries(${name} PUBLIC ${ARG_MLIR_LIBS})
  endif()
  target_include_directories(${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
    $<INSTALL_INTERFACE:include>)
  install(TARGETS ${name} EXPORT TokTargets
    ARCHIVE DESTINATION lib
    LIBRARY DESTINATION lib
    COMPONENT tok)
  set_property(GLOBAL APPEND PROPERTY TOK_ALL_LIBS ${name})
endfunction()

# tok_add_tool(name SRCS... [TOK_LIBS ...] [MLIR_LIBS ...])
function(tok_add_tool name)
  cmake_parse_arguments(ARG "" "" "TOK_LIBS;MLIR_LIBS" ${ARGN})
  add_llvm_executable(${name} ${ARG_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE ${ARG_TOK_LIBS})
  mlir_target_link_libraries(${name} PRIVATE ${ARG_MLIR_LIBS})
  llvm_update_compile_flags(${name})
  install(TARGETS ${name} EXPORT TokTargets
    RUNTIME DESTINATION bin COMPONENT tok)
endfunction()

# tok_link_mlir_capi(target PUBLIC|PRIVATE MLIRCAPI...)
#
# MLIR's C API libraries are static archives that libMLIR.so does not
# contain. With TOK_LINK_MLIR_DYLIB their imported targets would drag the
# static C++ MLIR libraries in beside the dylib, so link the archives alone;
# the C++ symbols they need come from libMLIR.so.
function(tok_link_mlir_capi target type)
  foreach(lib ${ARGN})
    if(TOK_LINK_MLIR_DYLIB)
      target_link_libraries(${target} ${type} $<TARGET_FILE:${lib}>)
    else()
      target_link_libraries(${target} ${type} ${lib})
    endif()
  endforeach()
  if(TOK_LINK_MLIR_DYLIB)
    target_link_libraries(${target} ${type} MLIR)
  endif()
endfunction()
