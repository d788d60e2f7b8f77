# Installing sparq as a CMake package (find_package(sparq), target
# sparq::sparq) and a pkg-config file. libsparq is static, so its private
# dependencies travel with it: sparqConfig.cmake finds each of them, and the
# list is derived from what the target links so it cannot silently go stale.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# Linked target -> the find_package() name that provides it.
set(SPARQ_PACKAGE_OF_TBB::tbb "TBB")
set(SPARQ_PACKAGE_OF_Eigen3::Eigen "Eigen3 NO_MODULE")
set(SPARQ_PACKAGE_OF_xsimd "xsimd")
set(SPARQ_PACKAGE_OF_flatbuffers::flatbuffers "FlatBuffers")
set(SPARQ_PACKAGE_OF_ZLIB::ZLIB "ZLIB")
set(SPARQ_PACKAGE_OF_nlohmann_json::nlohmann_json "nlohmann_json")

set(SPARQ_FIND_DEPENDENCIES "")
get_target_property(sparq_link_libraries sparq LINK_LIBRARIES)
foreach(library IN LISTS sparq_link_libraries)
  # Imported targets found in runtime/ are not visible here, so targets are
  # recognised by name: known ones, or anything namespaced (Pkg::target).
  # Plain system libraries (pthread, m) need no package.
  if(NOT DEFINED SPARQ_PACKAGE_OF_${library} AND NOT library MATCHES "::")
    continue()
  endif()
  if(NOT DEFINED SPARQ_PACKAGE_OF_${library})
    message(FATAL_ERROR "sparq links ${library}; name its package in cmake/SparqInstall.cmake "
                        "so the installed sparqConfig.cmake finds it")
  endif()
  string(APPEND SPARQ_FIND_DEPENDENCIES "find_dependency(${SPARQ_PACKAGE_OF_${library}})\n")
endforeach()

install(TARGETS sparq EXPORT sparqTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/sparq DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp")
install(EXPORT sparqTargets NAMESPACE sparq:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sparq)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/sparqConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/sparqConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sparq)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/sparqConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/sparqConfig.cmake ${PROJECT_BINARY_DIR}/sparqConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sparq)

# pkg-config: the static library needs its compiled dependencies on the link
# line (the header-only ones need nothing).
# Relocatable: the prefix is found from the .pc file's own place, so
# `cmake --install --prefix anywhere` gives a working file.
file(RELATIVE_PATH SPARQ_PC_TO_PREFIX "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
configure_file(${PROJECT_SOURCE_DIR}/cmake/sparq.pc.in ${PROJECT_BINARY_DIR}/sparq.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/sparq.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
