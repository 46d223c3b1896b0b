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
    # name, base timeout in seconds (scaled for sanitizer builds), processors
    aw_python_tests(capture "$<TARGET_FILE:airwave>"
        devices 60 1
        wer 90 1
        reopen 90 1)
endif()
