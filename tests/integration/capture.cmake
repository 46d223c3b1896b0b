# PortAudio capture without a sound card (TESTBED.md §4; docs/capture.md).
# Scripts: tests/integration/capture_*.py; stand-ins: capture_lib.py.
#
#   integration.capture.devices  ALSA file plugin: `airwave devices`, device
#                                names and their errors, and an unpaced
#                                "device" flooding the ring: dropped, counted,
#                                announced, never waited for
#   integration.capture.wer      PulseAudio null sink: a sample played into
#                                the device is transcribed as well as its
#                                file (the must-show)
#   integration.capture.reopen   PulseAudio killed and restarted: the device
#                                is reopened as a new capture session
#
# The PulseAudio tests need pulseaudio and pulseaudio-utils
# (scripts/install-deps.sh) and fail, saying so, when they are missing. Each
# runs its own daemon in its scratch directory, so they may run in parallel.

if(TARGET airwave AND TARGET airwave-speechd)
    find_program(AW_PYTHON3 NAMES python3 REQUIRED)
    # name, base timeout in seconds (scaled for sanitizer builds)
    set(aw_capture_tests
        devices 60
        wer 90
        reopen 90)
    while(aw_capture_tests)
        list(POP_FRONT aw_capture_tests name seconds)
        add_test(NAME integration.capture.${name}
                 COMMAND ${AW_PYTHON3}
                         ${CMAKE_SOURCE_DIR}/tests/integration/capture_${name}.py)
        aw_timeout(t ${seconds})
        set_tests_properties(integration.capture.${name} PROPERTIES
            LABELS integration TIMEOUT ${t}
            ENVIRONMENT "${AW_TEST_ENV}"
            REQUIRED_FILES "$<TARGET_FILE:airwave>")
    endwhile()
endif()
