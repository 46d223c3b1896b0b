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
    # name, base timeout in seconds (scaled for sanitizer builds), processors
    aw_python_tests(speechd "$<TARGET_FILE:airwave-speechd>"
        samples 300 2
        long_runs 600 2
        long 60 1
        rotation 60 1
        refusals 180 1)
    set_tests_properties(integration.speechd.long_runs PROPERTIES
        FIXTURES_SETUP speechd_long_runs)
    set_tests_properties(integration.speechd.long integration.speechd.rotation
        PROPERTIES FIXTURES_REQUIRED speechd_long_runs)
endif()
