# ctest script: installs this build into a fresh prefix, builds examples/embed
# out of tree against it twice (find_package(sparq), then pkg-config) and runs
# both on a generated model and image.
#   -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -DFIXTURE_WRITER=...
foreach(var BUILD_DIR SOURCE_DIR WORK_DIR FIXTURE_WRITER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install test: -D${var}= is required")
  endif()
endforeach()

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install test: ${what} failed (${rc})\n${out}\n${err}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
run_step("cmake --install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
foreach(installed include/sparq/sparq.hpp include/sparq/image.hpp)
  if(NOT EXISTS ${prefix}/${installed})
    message(FATAL_ERROR "install test: ${installed} was not installed")
  endif()
endforeach()

run_step("configure embed" ${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/embed -B ${WORK_DIR}/embed
         -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=${prefix})
run_step("build embed" ${CMAKE_COMMAND} --build ${WORK_DIR}/embed)

run_step("write fixtures" ${FIXTURE_WRITER} ${WORK_DIR}/fixtures)
run_step("run embed" ${WORK_DIR}/embed/embed ${WORK_DIR}/fixtures/classifier_k3.sparq
         ${WORK_DIR}/fixtures/shirt.png)
if(NOT step_output MATCHES "shirt.png: [^\n]+ \\(score [0-9.]+\\)")
  message(FATAL_ERROR "install test: unexpected embed output '${step_output}'")
endif()

# The same program through pkg-config, the way a Makefile user builds it.
find_program(PKG_CONFIG pkg-config REQUIRED)
set(ENV{PKG_CONFIG_PATH} "")
file(GLOB pc_files ${prefix}/lib*/pkgconfig/sparq.pc ${prefix}/lib/*/pkgconfig/sparq.pc)
list(GET pc_files 0 pc_file)
get_filename_component(pc_dir ${pc_file} DIRECTORY)
set(ENV{PKG_CONFIG_PATH} ${pc_dir})
run_step("pkg-config" ${PKG_CONFIG} --cflags --libs sparq)
string(STRIP "${step_output}" flags)
separate_arguments(flags UNIX_COMMAND "${flags}")
run_step("g++ with pkg-config" c++ ${SOURCE_DIR}/examples/embed/main.cpp ${flags}
         -o ${WORK_DIR}/embed_pkgconfig)
run_step("run pkg-config build" ${WORK_DIR}/embed_pkgconfig ${WORK_DIR}/fixtures/classifier_k3.sparq
         ${WORK_DIR}/fixtures/small.pgm)
file(REMOVE_RECURSE ${WORK_DIR})
message(STATUS "install test: find_package and pkg-config builds of examples/embed both ran")
