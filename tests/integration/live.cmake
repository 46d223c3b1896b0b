# Live sources and faults (docs/live.md): the real airwave binary on live
# stations that fail, against airwave-speechd and aw-kafka-mock, all on
# 127.0.0.1. Scripts: tests/integration/live_*.py; helpers:
# tests/tools/awlive.py (on top of awconn.py and awtest.py); the fake
# station tests/tools/icy_server.py. The soak (must-show 8) is bench/soak/,
# not a test.
#
#   integration.live.icecast_titles    must-show 1: icecast2 + ffmpeg, titles
#                                      on the stream timeline (~90 s)
#   integration.live.icecast_restarts  must-show 2: the source killed every
#                                      30 s for 3 minutes (~200 s)
#   integration.live.stall             must-show 3: stall watchdog (~40 s)
#   integration.live.speechd_faults    must-show 4: speechd closes every 15 s,
#                                      and killed and restarted (~100 s)
#   integration.live.slow_service      must-show 5: a service slower than
#                                      real time (~130 s)
#   integration.live.reload            must-show 7: reloads leave untouched
#                                      streams alone (~40 s)
#   integration.live.udp_tracks        UDP MPEG-TS, audio track by language
#                                      and by index (~40 s)
#   integration.live.rtmp_rtsp         RTMP and RTSP into airwave's listening
#                                      ingest (~30 s)
#
# All are paced by the stations' real-time clocks, so most of their wall
# time is waiting: one processor each. icecast_titles, icecast_restarts and
# slow_service need icecast2 (and root, which it drops) or 3x PocketSphinx.

# aw-kafka-mock is defined in tools.cmake, which the glob may include after
# this file: only the generator expressions below name it.
if(TARGET airwave AND TARGET airwave-speechd)
    # name, base timeout in seconds (scaled for sanitizer builds), processors
    aw_python_tests(live "$<TARGET_FILE:airwave>;$<TARGET_FILE:airwave-speechd>;$<TARGET_FILE:aw-kafka-mock>"
        icecast_titles 300 1
        icecast_restarts 480 1
        stall 180 1
        speechd_faults 360 1
        slow_service 360 1
        reload 180 1
        udp_tracks 180 1
        rtmp_rtsp 180 1)
endif()
