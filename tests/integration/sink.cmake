# Sink records end to end: aw-sink-sample publishes through the real sinks to
# the standalone mock cluster (aw-kafka-mock) and a JSONL file; what is read
# back must validate against docs/schema/ (tests/tools/validate_schema.py)
# and equal the JSONL copy byte for byte. Tools: tests/integration/tools.cmake.

find_program(AW_PYTHON3 NAMES python3 REQUIRED)
add_test(NAME integration.sink.schema
         COMMAND ${AW_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/integration/sink_schema.py)
aw_timeout(t 180)
set_tests_properties(integration.sink.schema PROPERTIES
    LABELS integration TIMEOUT ${t}
    ENVIRONMENT "${AW_TEST_ENV}"
    REQUIRED_FILES "$<TARGET_FILE:aw-kafka-mock>;$<TARGET_FILE:aw-sink-sample>")
