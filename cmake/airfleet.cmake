# airfleet_add_library(name SOURCES ... DEPS ...): one folder = one library target.
function(airfleet_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(airfleet_${name} STATIC ${ARG_SOURCES})
  target_include_directories(airfleet_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(airfleet_${name} PUBLIC ${ARG_DEPS})
endfunction()

# airfleet_add_test(name SOURCES ... DEPS ...): a GoogleTest executable whose
# cases CTest discovers one by one.
function(airfleet_add_test name)
  if(NOT AIRFLEET_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300)
endfunction()
