# Operations (docs/operations.md §8, ARCHITECTURE.md "Configuration"): the
# real airwave binary against airwave-speechd and aw-kafka-mock, all on
# 127.0.0.1. Scripts: tests/integration/ops_*.py; helpers:
# tests/tools/awops.py (a strict Prometheus text parser, a recording TLS
# relay, secret search) on top of awlive.py, awconn.py and awtest.py.
#
#   integration.ops.metrics   /metrics scraped through a live run with
#                             planned rotations and speechd killed and
#                             restarted: strict text format, names, counters
#                             against the records consumed back; /readyz
#                             503 while speechd is away, /healthz 200 (~50 s)
#   integration.ops.secrets   the speech key, the bearer tokens and a Kafka
#                             password never appear in logs (every level,
#                             logfmt and JSON), stdout, records, /metrics or
#                             error messages, failure paths included, and
#                             a station URL's password and token (~40 s)

# aw-kafka-mock is defined in tools.cmake, which the glob may include after
# this file: only the generator expressions below name it.
if(TARGET airwave AND TARGET airwave-speechd)
    # name, base timeout in seconds (scaled for sanitizer builds), processors
    aw_python_tests(ops "$<TARGET_FILE:airwave>;$<TARGET_FILE:airwave-speechd>;$<TARGET_FILE:aw-kafka-mock>"
        metrics 180 1
        secrets 180 2)
endif()
