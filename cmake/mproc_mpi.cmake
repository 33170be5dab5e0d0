# cmake/mproc_mpi.cmake: libmproc_mpi, the pool on MPI (src/mpi/), its
# tests (tests/mpi/, run under mpirun by tests/mpi/run.sh) and its example.
# Built when an MPI is found (MP_MPI=OFF turns it off); the core libmproc
# never links MPI. Installed as mproc::mpi (its own export set, so a
# consumer of mproc::mproc needs no MPI) and as pkg-config mproc-mpi.
option(MP_MPI "Build libmproc_mpi when an MPI is found" ON)
if(MP_MPI)
  find_package(MPI COMPONENTS C QUIET)
endif()
if(NOT MP_MPI OR NOT MPI_C_FOUND)
  message(STATUS "mproc: no MPI found (or MP_MPI=OFF): libmproc_mpi is not built")
  return()
endif()

file(GLOB MP_MPI_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/mpi/*.c)
add_library(mproc_mpi SHARED ${MP_MPI_SOURCES})
set_target_properties(mproc_mpi PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
  EXPORT_NAME mpi) # installed as mproc::mpi
target_compile_definitions(mproc_mpi PRIVATE MP_BUILDING _GNU_SOURCE)
target_include_directories(mproc_mpi
  PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
  PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(mproc_mpi PUBLIC mproc MPI::MPI_C PRIVATE Threads::Threads)
add_library(mproc::mpi ALIAS mproc_mpi)

install(TARGETS mproc_mpi EXPORT mprocMpiTargets LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT mprocMpiTargets NAMESPACE mproc:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mproc)
set(MP_MPI_PC_CFLAGS "")
foreach(d ${MPI_C_INCLUDE_DIRS})
  string(APPEND MP_MPI_PC_CFLAGS " -I${d}")
endforeach()
set(MP_MPI_PC_LIBS "")
foreach(l ${MPI_C_LIBRARIES})
  string(APPEND MP_MPI_PC_LIBS " ${l}")
endforeach()
configure_file(${PROJECT_SOURCE_DIR}/cmake/mproc-mpi.pc.in ${PROJECT_BINARY_DIR}/mproc-mpi.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/mproc-mpi.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# A program of the MPI suite: the shared libraries, as a user links them.
function(mp_mpi_program name src)
  add_executable(${name} ${src})
  target_compile_definitions(${name} PRIVATE _GNU_SOURCE)
  target_link_libraries(${name} PRIVATE mproc_mpi Threads::Threads m)
endfunction()

set(MP_MPI_RUN ${PROJECT_SOURCE_DIR}/tests/mpi/run.sh)
# Under ASan the MPI tests run without LeakSanitizer: Open MPI's plugins
# (dlopen'd, then unloaded) leave allocations whose frames name no module,
# which no suppression can match. Memory errors are still fatal.
set(MP_MPI_TEST_ENV "")
if(MP_ASAN)
  set(MP_MPI_TEST_ENV "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1")
endif()
find_program(MP_BASH bash REQUIRED) # check_output runs a path, not a name
if(MP_BUILD_TESTS)
  # tests/mpi/test_*.c: each under mpirun -n 3 and -n 5, over shared
  # memory and TCP: test_x@np3-shm, test_x@np5-tcp, ...
  file(GLOB MP_MPI_TESTS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/mpi/test_*.c)
  foreach(src ${MP_MPI_TESTS})
    get_filename_component(name ${src} NAME_WE)
    mp_mpi_program(${name} ${src})
    target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests/mpi)
    foreach(np 3 5)
      foreach(tr shm tcp)
        set(_btl "vader,self")
        if(tr STREQUAL "tcp")
          set(_btl "tcp,self")
        endif()
        add_test(NAME ${name}@np${np}-${tr}
          COMMAND bash ${MP_MPI_RUN} ${np} ${_btl} -- $<TARGET_FILE:${name}>)
        set_tests_properties(${name}@np${np}-${tr} PROPERTIES TIMEOUT 200 SKIP_RETURN_CODE 77
          ENVIRONMENT "${MP_MPI_TEST_ENV}")
      endforeach()
    endforeach()
  endforeach()
  # Programs the scripts run (tests/mpi/mpi_*.c).
  file(GLOB MP_MPI_HELPERS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/mpi/mpi_*.c)
  foreach(src ${MP_MPI_HELPERS})
    get_filename_component(name ${src} NAME_WE)
    mp_mpi_program(${name} ${src})
    target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests/mpi)
  endforeach()
  # tests/mpi/test_*.sh get the build and source dirs.
  file(GLOB MP_MPI_SCRIPTS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/mpi/test_*.sh)
  foreach(src ${MP_MPI_SCRIPTS})
    get_filename_component(name ${src} NAME_WE)
    add_test(NAME ${name} COMMAND bash ${src} ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
    set_tests_properties(${name} PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
      ENVIRONMENT "${MP_MPI_TEST_ENV}")
  endforeach()
endif()

if(MP_BUILD_EXAMPLES)
  file(GLOB MP_MPI_EXAMPLES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/examples/mpi_*.c)
  foreach(src ${MP_MPI_EXAMPLES})
    get_filename_component(name ${src} NAME_WE)
    mp_mpi_program(ex_${name} ${src})
    target_include_directories(ex_${name} PRIVATE ${PROJECT_SOURCE_DIR}/examples)
    if(TARGET mproc_examples) # make demo builds it
      add_dependencies(mproc_examples ex_${name})
    endif()
    set_target_properties(ex_${name} PROPERTIES OUTPUT_NAME ${name}
      RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/examples)
    if(MP_BUILD_TESTS AND EXISTS ${PROJECT_SOURCE_DIR}/examples/${name}.expected)
      add_test(NAME example_${name}
        COMMAND check_output ${PROJECT_SOURCE_DIR}/examples/${name}.expected
                ${MP_BASH} ${MP_MPI_RUN} 3 vader,self -- $<TARGET_FILE:ex_${name}>)
      set_tests_properties(example_${name} PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77
        ENVIRONMENT "${MP_MPI_TEST_ENV}")
    endif()
  endforeach()
endif()
