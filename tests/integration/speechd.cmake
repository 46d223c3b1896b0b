# airwave-speechd conformance tests (must-show 1-3 of the speechd issue): the
# official Azure Speech SDK and a raw protocol client against speechd on
# 127.0.0.1. Scripts: tests/integration/speechd_*.py; helpers:
# tests/tools/awtest.py; clients: tests/tools/sdk/. They need the SDK's npm
# packages (scripts/install-deps.sh) and fail, saying so, when these are
# missing.
#
#   integration.speechd.samples    SDK vs PocketSphinx WER, every short sample
#   integration.speechd.long_runs  fixture: every long-recording session at once
#   integration.speechd.long       its checks for must-show 1 (WER, boundaries)
#   integration.speechd.rotation   its checks for must-show 2 (5-s connections)
#   integration.speechd.refusals   must-show 3
#
# The sessions of samples and long_runs keep both cores busy and the 5-s
# connections need speechd to keep up, so those two claim both processors
# (PROCESSORS 2): ctest -j2 runs nothing beside them.

if(TARGET airwave-speechd)
    find_program(AW_PYTHON3 NAMES python3 REQUIRED)
    # name, base timeout in seconds (scaled for sanitizer builds), processors
    set(aw_speechd_tests
        samples 300 2
        long_runs 600 2
        long 60 1
        rotation 60 1
        refusals 180 1)
    while(aw_speechd_tests)
        list(POP_FRONT aw_speechd_tests name seconds procs)
        add_test(NAME integration.speechd.${name}
                 COMMAND ${AW_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/integration/speechd_${name}.py)
        aw_timeout(t ${seconds})
        set_tests_properties(integration.speechd.${name} PROPERTIES
            LABELS integration TIMEOUT ${t} PROCESSORS ${procs}
            ENVIRONMENT "${AW_TEST_ENV}"
            REQUIRED_FILES "$<TARGET_FILE:airwave-speechd>")
    endwhile()
    set_tests_properties(integration.speechd.long_runs PROPERTIES
        FIXTURES_SETUP speechd_long_runs)
    set_tests_properties(integration.speechd.long integration.speechd.rotation
        PROPERTIES FIXTURES_REQUIRED speechd_long_runs)
endif()
