# `cmake --build build --target bench`: rerun the benchmarks with short
# durations (about 10 minutes on a quiet 2-core machine, up to 16 on a
# busy one; bench/README.md has the full-length
# commands and the figures). Not part of ctest and not part of `all`.
#
#   bench/stream     live-stream cost, density, phrase latency, profile
#   bench/connector  `airwave transcribe` of a file beside ffmpeg and the SDK
#   bench/speechd    airwave-speechd sessions (PocketSphinx and null engine)
#
# Results: bench/results/stream-*.json and speechd-*.json (git-ignored) and
# ${CMAKE_BINARY_DIR}/bench-connector.json. Needs ffmpeg, node with
# tests/tools/sdk/node_modules (scripts/install-deps.sh) and, for the
# latency and profile parts, perf with uprobes (root). Use a release-like
# build: sanitizer builds give meaningless figures.

if(NOT TARGET aw-kafka-mock)
    # Normally built with the tests (tests/integration/tools.cmake).
    add_executable(aw-kafka-mock EXCLUDE_FROM_ALL tests/tools/kafka_mock.c)
    target_link_libraries(aw-kafka-mock PRIVATE PkgConfig::RDKAFKA aw_warnings)
endif()

find_program(AW_SH sh REQUIRED)

add_custom_target(bench
    COMMAND ${CMAKE_COMMAND} -E echo "== bench/stream (about 8 min)"
    COMMAND ${AW_SH} ${CMAKE_SOURCE_DIR}/bench/stream/run.sh
            --build-dir ${CMAKE_BINARY_DIR}
            --cost-seconds 40 --warmup 8
            --levels 1,10,100,300 --level-seconds 30
            --alt-buffer-seconds 8
            --latency-seconds 45 --latency-streams 3
            --profile-seconds 8
    COMMAND ${CMAKE_COMMAND} -E echo "== bench/connector (under 1 min)"
    COMMAND ${AW_SH} ${CMAKE_SOURCE_DIR}/bench/connector/run.sh
            --build-dir ${CMAKE_BINARY_DIR} --reps 1 --live-seconds 0
            --json ${CMAKE_BINARY_DIR}/bench-connector.json
    # speechd's bench waits (up to 180 s per level) for the machine to be
    # quiet before each level: one level per engine keeps that bounded.
    COMMAND ${CMAKE_COMMAND} -E echo "== bench/speechd (about 1 min on a quiet machine)"
    COMMAND ${AW_SH} ${CMAKE_SOURCE_DIR}/bench/speechd/run.sh
            --build-dir ${CMAKE_BINARY_DIR} --seconds 20 --levels 1
    DEPENDS airwave airwave-speechd aw-kafka-mock
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
    USES_TERMINAL
    VERBATIM)
