# mpinet.cmake: the programs and tests around the "mpi" pool that need only
# MPI itself (tests/mpi/, bench/mpi/), included at the end of CMakeLists.txt.
# Nothing here is built when no MPI is found: the core never needs one.
#   mpi_hello         plain MPI ring + gather (tests/mpi/hello.c)
#   test_netns        ranks on 2-3 network-namespace "hosts" over TCP
#   test_mpich        src/mpi and the programs on it build and run with MPICH
#   kill_prog         the map tests/mpi/test_kill_rank.sh SIGKILLs a rank of
#   test_kill_rank    its 20 rounds with --enable-recovery, 5 without
#   bench/bench_mpi_raw  the raw MPI rows of `make bench` (bench/mpi/)
#   bench/bench_mpi_pool the "mpi" pool's rows (needs mproc_mpi)
find_package(MPI COMPONENTS C QUIET)
if(MPI_C_FOUND)
  # Plain MPI programs: no mproc, so they show what MPI alone does.
  function(mp_mpi_plain_program name src)
    add_executable(${name} ${src})
    target_compile_definitions(${name} PRIVATE _GNU_SOURCE)
    target_link_libraries(${name} PRIVATE MPI::MPI_C)
  endfunction()
  if(MP_BUILD_TESTS)
    mp_mpi_plain_program(mpi_hello ${PROJECT_SOURCE_DIR}/tests/mpi/hello.c)
    # tests/mpi/test_<x>.sh BUILD SRC; area/mpi's cmake/mproc_mpi.cmake
    # registers every tests/mpi/test_*.sh the same way: then it is done.
    foreach(t netns mpich kill_rank)
      if(NOT TEST test_${t})
        add_test(NAME test_${t}
          COMMAND bash ${PROJECT_SOURCE_DIR}/tests/mpi/test_${t}.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
        set_tests_properties(test_${t} PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
      endif()
    endforeach()
  endif()
  # Programs on mproc's MPI library (A1's mproc_mpi target), once it exists.
  if(MP_BUILD_TESTS AND TARGET mproc_mpi)
    add_executable(kill_prog ${PROJECT_SOURCE_DIR}/tests/mpi/kill_prog.c)
    target_compile_definitions(kill_prog PRIVATE _GNU_SOURCE)
    target_link_libraries(kill_prog PRIVATE mproc_mpi mproc MPI::MPI_C)
  endif()
  if(MP_BUILD_BENCH AND EXISTS ${PROJECT_SOURCE_DIR}/bench/mpi/bench_mpi_raw.c)
    mp_mpi_plain_program(bench_mpi_raw "${PROJECT_SOURCE_DIR}/bench/mpi/bench_mpi_raw.c;${PROJECT_SOURCE_DIR}/bench/mpi/bench_mpi_util.c;${PROJECT_SOURCE_DIR}/bench/bench_util.c")
    target_include_directories(bench_mpi_raw PRIVATE ${PROJECT_SOURCE_DIR}/bench ${PROJECT_SOURCE_DIR}/bench/mpi)
    target_link_libraries(bench_mpi_raw PRIVATE mproc)   # bench_util.c names errors
    if(TARGET mproc_mpi)
      add_executable(bench_mpi_pool ${PROJECT_SOURCE_DIR}/bench/mpi/bench_mpi_pool.c
        ${PROJECT_SOURCE_DIR}/bench/mpi/bench_mpi_util.c ${PROJECT_SOURCE_DIR}/bench/bench_util.c)
      target_compile_definitions(bench_mpi_pool PRIVATE _GNU_SOURCE)
      target_include_directories(bench_mpi_pool PRIVATE ${PROJECT_SOURCE_DIR}/bench ${PROJECT_SOURCE_DIR}/bench/mpi)
      target_link_libraries(bench_mpi_pool PRIVATE mproc_mpi mproc MPI::MPI_C)
      set_target_properties(bench_mpi_pool PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)
    endif()
    set_target_properties(bench_mpi_raw PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)
  endif()
endif()
