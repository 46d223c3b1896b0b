# Connector end to end (must-show 1-6 of the connector issue): the real
# airwave binary against airwave-speechd (PocketSphinx) and aw-kafka-mock
# (the librdkafka mock cluster), all on 127.0.0.1. Scripts:
# tests/integration/connector_*.py; helpers: tests/tools/awconn.py (on top of
# tests/tools/awtest.py). The benchmark (must-show 7) is bench/connector/,
# not a test.
#
#   integration.connector.samples       every sample, MP3 and WAV, -> Kafka: WER,
#                                       schema, order, phrase boundaries
#   integration.connector.rotation      long-news over 20-s connections (>= 8
#                                       rotations; ~3 min: the run is paced)
#   integration.connector.restart       speechd SIGKILLed mid-stream, back 3 s later
#   integration.connector.kafka_outage  the only broker down for 10 s mid-run
#   integration.connector.tls           wss:// with a self-signed certificate
#   integration.connector.bad_input     one-line errors, exit codes, no leaks
#
# samples runs 16 unpaced sessions and keeps both cores busy, rotation is
# timing-sensitive (PROCESSORS 2, both); the others are mostly paced and
# leave room beside them.

# aw-kafka-mock is defined in tools.cmake, which the glob includes after this
# file: only the generator expressions below name it.
if(TARGET airwave AND TARGET airwave-speechd)
    # name, base timeout in seconds (scaled for sanitizer builds), processors
    aw_python_tests(connector "$<TARGET_FILE:airwave>;$<TARGET_FILE:airwave-speechd>;$<TARGET_FILE:aw-kafka-mock>"
        samples 360 2
        rotation 480 2
        restart 180 1
        kafka_outage 180 1
        tls 120 1
        bad_input 120 1)
    # rotation's three paced runs need ~0.9 of a core (~1.5 to 2 under the
    # sanitizers), and a speechd that falls behind moves the very cuts the
    # test counts: beside icecast_restarts and slow_service it saw its last
    # connection reach speechd's limit while draining, so it runs alone.
endif()
