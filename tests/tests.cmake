# Test registration. Unit tests and fuzz targets are found by name; each
# integration area keeps its own tests/integration/<area>.cmake, so areas can
# grow without editing one shared list.

pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)

# Time limits scale for slow builds (sanitizers, valgrind), like librdkafka's
# tmout_multip().
if(AW_SANITIZE OR AW_BUILD_FUZZERS)
    set(AW_TIMEOUT_MULT 3)
else()
    set(AW_TIMEOUT_MULT 1)
endif()
function(aw_timeout out seconds)
    math(EXPR t "${seconds} * ${AW_TIMEOUT_MULT}")
    set(${out} ${t} PARENT_SCOPE)
endfunction()

set(AW_TEST_ENV
    "AW_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    "AW_BUILD_DIR=${CMAKE_BINARY_DIR}"
    "AW_PS_MODEL_DIR=${AW_PS_MODEL_DIR}"
    "AW_TIMEOUT_MULT=${AW_TIMEOUT_MULT}"
    "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1"
    "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")

# Unit tests: tests/unit/test_<module>.c -> executable test_<module>, ctest
# name unit.<module>.
file(GLOB AW_UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.c)
foreach(src ${AW_UNIT_TESTS})
    get_filename_component(name ${src} NAME_WE)
    string(REGEX REPLACE "^test_" "" module ${name})
    add_executable(${name} ${src})
    target_include_directories(${name} PRIVATE ${PS_INCLUDE_DIRS})
    target_link_libraries(${name} PRIVATE airwave_core aw_warnings
                          PkgConfig::CMOCKA)
    add_test(NAME unit.${module} COMMAND ${name})
    aw_timeout(t 120)
    set_tests_properties(unit.${module} PROPERTIES LABELS unit TIMEOUT ${t}
        ENVIRONMENT "${AW_TEST_ENV}")
endforeach()

# Fuzz targets: tests/fuzz/fuzz_<parser>.c. With AW_BUILD_FUZZERS they link
# libFuzzer; otherwise a small driver replays files, so every build (the
# sanitizer one included) replays the checked-in corpus as a regression test.
file(GLOB AW_FUZZ_TARGETS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_*.c)
foreach(src ${AW_FUZZ_TARGETS})
    get_filename_component(name ${src} NAME_WE)
    string(REGEX REPLACE "^fuzz_" "" parser ${name})
    if(AW_BUILD_FUZZERS)
        add_executable(${name} ${src})
        target_link_options(${name} PRIVATE -fsanitize=fuzzer)
        set(replay_args -runs=0)
    else()
        add_executable(${name} ${src} ${CMAKE_SOURCE_DIR}/tests/fuzz/replay_main.c)
        set(replay_args)
    endif()
    target_link_libraries(${name} PRIVATE airwave_core aw_warnings)
    add_test(NAME fuzz.${parser}
             COMMAND ${name} ${replay_args} ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${parser})
    aw_timeout(t 300)
    set_tests_properties(fuzz.${parser} PROPERTIES LABELS fuzz TIMEOUT ${t}
        ENVIRONMENT "${AW_TEST_ENV}")
endforeach()

# Python integration tests of one area:
#   aw_python_tests(AREA "REQUIRED;FILES" name seconds processors ...)
# adds integration.AREA.name running tests/integration/AREA_name.py, with
# the base timeout scaled for slow builds and the processors it keeps busy.
function(aw_python_tests area required)
    find_program(AW_PYTHON3 NAMES python3 REQUIRED)
    set(rows ${ARGN})
    while(rows)
        list(POP_FRONT rows name seconds procs)
        add_test(NAME integration.${area}.${name}
                 COMMAND ${AW_PYTHON3}
                         ${CMAKE_SOURCE_DIR}/tests/integration/${area}_${name}.py)
        aw_timeout(t ${seconds})
        set_tests_properties(integration.${area}.${name} PROPERTIES
            LABELS integration TIMEOUT ${t} PROCESSORS ${procs}
            ENVIRONMENT "${AW_TEST_ENV}"
            REQUIRED_FILES "${required}")
    endwhile()
endfunction()

# Integration tests, one file per area.
file(GLOB AW_INTEGRATION_AREAS CONFIGURE_DEPENDS
     ${CMAKE_SOURCE_DIR}/tests/integration/*.cmake)
foreach(area ${AW_INTEGRATION_AREAS})
    include(${area})
endforeach()
