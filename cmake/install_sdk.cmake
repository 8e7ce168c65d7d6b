# Installs the C++ worker SDK so that a program outside this tree can use it:
#
#   find_package(iii CONFIG REQUIRED)              # CMake: gives the target iii::sdk
#   pkg-config --cflags --libs iii                 # anything else
#
# What is installed: include/iii/iii.h, lib/libiii_sdk.a and lib/libiii_wire.a (the WebSocket client
# and frame code the SDK shares with the engine), lib/cmake/iii/ and lib/pkgconfig/iii.pc.
# The engine binary is installed too (bin/iii). Both libraries are static: a consumer also links
# what they use (Boost.JSON and Boost.URL 1.81, OpenSSL's libcrypto, simdjson), which
# iiiConfig.cmake finds and iii.pc lists.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/sdk/cpp/include/iii DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS iii_sdk iii_wire EXPORT iiiTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT iiiTargets NAMESPACE iii:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/iii)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/iiiConfig.cmake.in ${CMAKE_BINARY_DIR}/iiiConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/iii)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/iiiConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/iiiConfig.cmake ${CMAKE_BINARY_DIR}/iiiConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/iii)

file(RELATIVE_PATH III_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
configure_file(${PROJECT_SOURCE_DIR}/cmake/iii.pc.in ${CMAKE_BINARY_DIR}/iii.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/iii.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
