# The container image without Docker (no engine here, TESTBED.md §6): the
# steps of docker/Dockerfile run by the same scripts, then the result checked.
#
#   integration.image  scripts/build.sh (Release, tests off: the Dockerfile's
#                      build stage) into a temporary DESTDIR,
#                      scripts/stage-runtime.sh (the runtime stage's packages
#                      and layout), scripts/check-image.sh --smoke (binaries,
#                      libraries resolved inside the root, model, user, no
#                      build tools; airwave-speechd starts from the root)
#
# The build tree is ${CMAKE_BINARY_DIR}/image-build, kept between runs, so
# after the first run (about 10 s on 2 cores) the build is incremental; it is
# separate from this tree because the image never ships sanitizer or debug
# builds.

find_program(AW_PYTHON3 NAMES python3 REQUIRED)
add_test(NAME integration.image
         COMMAND ${AW_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/integration/image_contents.py)
aw_timeout(t 300)
set_tests_properties(integration.image PROPERTIES
    LABELS "integration;image" TIMEOUT ${t} PROCESSORS 2
    ENVIRONMENT "${AW_TEST_ENV};AW_IMAGE_BUILD_DIR=${CMAKE_BINARY_DIR}/image-build")
