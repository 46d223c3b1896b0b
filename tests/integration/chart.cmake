# Helm chart tests (charts/airwave), offline: no helm binary and no cluster
# here (TESTBED.md §6), so the chart is rendered by helmish (Go text/template
# + sprig from Debian; tests/tools/helmish) and every manifest is validated
# against the Kubernetes schemas by tests/tools/k8s/validate.js
# (kubernetes-models from npm, plus a strict unknown-field check).
#
#   integration.chart.render    every charts/airwave/ci/*-values.yaml set:
#                               valid manifests, labels, securityContext,
#                               probes, one Deployment per stream, and the
#                               ConfigMap accepted by `airwave check-config`
#   integration.chart.values    invalid values refused with a clear message
#                               (tests/data/chart/invalid/), by helmish's
#                               values.schema.json check and by ajv alike
#   integration.chart.checksum  editing one stream rolls only its pod
#
# helmish is built with the tests (target aw-helmish); the npm packages come
# from scripts/install-deps.sh (npm ci in tests/tools/k8s).

find_program(AW_GO go)
find_program(AW_PYTHON3 NAMES python3 REQUIRED)
if(AW_GO)
    file(GLOB AW_HELMISH_SOURCES CONFIGURE_DEPENDS
         ${CMAKE_SOURCE_DIR}/tests/tools/helmish/*.go)
    add_custom_command(
        OUTPUT ${CMAKE_BINARY_DIR}/helmish
        COMMAND ${CMAKE_COMMAND} -E env GO111MODULE=off GOPATH=/usr/share/gocode
                GOCACHE=${CMAKE_BINARY_DIR}/go-cache
                ${AW_GO} build -o ${CMAKE_BINARY_DIR}/helmish ./tests/tools/helmish
        WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
        DEPENDS ${AW_HELMISH_SOURCES}
        COMMENT "Building helmish (Helm chart renderer for the tests)")
    add_custom_target(aw-helmish ALL DEPENDS ${CMAKE_BINARY_DIR}/helmish)
else()
    message(WARNING "go not found: the chart tests will fail until "
                    "scripts/install-deps.sh installs golang-go")
endif()

foreach(name render values checksum)
    add_test(NAME integration.chart.${name}
             COMMAND ${AW_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/integration/chart_${name}.py)
    aw_timeout(t 120)
    set_tests_properties(integration.chart.${name} PROPERTIES
        LABELS "integration;chart" TIMEOUT ${t}
        ENVIRONMENT "${AW_TEST_ENV}")
endforeach()
