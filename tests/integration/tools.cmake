# Test tools built with the tests, never installed (TESTBED.md §2.2,
# docs/sinks.md):
#   aw-kafka-mock   standalone librdkafka mock cluster on 127.0.0.1, plus a
#                   "consume" mode that prints messages as JSON lines; only
#                   librdkafka, so it can be built and used on its own
#   aw-sink-sample  publishes sample records through the real sinks
# aw_warnings also brings _POSIX_C_SOURCE, which strict C11 needs for
# sigtimedwait() and friends.

add_executable(aw-kafka-mock tests/tools/kafka_mock.c)
target_link_libraries(aw-kafka-mock PRIVATE PkgConfig::RDKAFKA aw_warnings)

add_executable(aw-sink-sample tests/tools/sink_sample.c)
target_link_libraries(aw-sink-sample PRIVATE airwave_core aw_warnings)
