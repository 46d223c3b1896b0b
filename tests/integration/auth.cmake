# Speech service authentication: bearer tokens from a local HTTPS token
# endpoint (airwave-speechd serves POST /sts/v1.0/issueToken).
if(TARGET airwave AND TARGET airwave-speechd)
    find_program(AW_PYTHON3 NAMES python3 REQUIRED)
    add_test(NAME integration.auth.token
             COMMAND ${AW_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/integration/auth_token.py)
    aw_timeout(t 120)
    set_tests_properties(integration.auth.token PROPERTIES
        LABELS integration TIMEOUT ${t} ENVIRONMENT "${AW_TEST_ENV}")
endif()
