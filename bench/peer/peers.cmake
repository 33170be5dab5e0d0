# peers.cmake: the peer benchmark programs (bench/peer/): the libraries a C
# or C++ user would pick instead of mproc, from Debian packages that
# `scripts/setup.sh --bench` installs. Each is optional: when its package
# (or, for Boost, a C++ compiler) is missing, a stub of the same name is
# built instead that prints a SKIP line per row with the reason, so the
# table says what was not measured. C++ is enabled here only, for the
# Boost peer: the library and its tests stay C.
set(_peer_dir ${PROJECT_SOURCE_DIR}/bench/peer)

function(mp_bench_peer name)
  cmake_parse_arguments(P "" "" "SOURCES" ${ARGN})
  mp_user_program(${name} "${P_SOURCES};${PROJECT_SOURCE_DIR}/bench/bench_util.c;${_peer_dir}/peer_util.c")
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/bench ${_peer_dir})
endfunction()

function(mp_bench_peer_missing name why rows)
  add_executable(${name} ${_peer_dir}/peer_missing.c)
  target_compile_definitions(${name} PRIVATE "PEER_WHY=\"${why}\"" "PEER_ROWS=\"${rows}\"")
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)
endfunction()

# POSIX message queues: glibc, nothing to install.
mp_bench_peer(bench_peer_mq SOURCES ${_peer_dir}/bench_peer_mq.c)

pkg_check_modules(ZMQ IMPORTED_TARGET libzmq)
if(ZMQ_FOUND)
  mp_bench_peer(bench_peer_zmq SOURCES ${_peer_dir}/bench_peer_zmq.c)
  target_link_libraries(bench_peer_zmq PRIVATE PkgConfig::ZMQ)
else()
  mp_bench_peer_missing(bench_peer_zmq "peer zmq: libzmq3-dev not installed (scripts/setup.sh --bench)"
    "queue.stream.16B queue.pingpong.16B conn.pingpong.64B conn.pingpong.64B.2cpu conn.bulk.64MiB pool.apply_async.1e5")
endif()

pkg_check_modules(HIREDIS IMPORTED_TARGET hiredis)
find_program(MP_REDIS_SERVER redis-server)
if(HIREDIS_FOUND AND MP_REDIS_SERVER)
  mp_bench_peer(bench_peer_redis SOURCES ${_peer_dir}/bench_peer_redis.c)
  target_link_libraries(bench_peer_redis PRIVATE PkgConfig::HIREDIS)
  target_compile_definitions(bench_peer_redis PRIVATE "REDIS_SERVER=\"${MP_REDIS_SERVER}\"")
else()
  mp_bench_peer_missing(bench_peer_redis "peer redis: redis-server or libhiredis-dev not installed (scripts/setup.sh --bench)"
    "manager.dict_set manager.dict_get manager.list_append")
endif()

include(CheckLanguage)
check_language(CXX)
set(_boost_rows "queue.stream.16B queue.pingpong.16B sync.lock.uncontended sync.lock.counter_2proc manager.dict_set manager.dict_get")
if(CMAKE_CXX_COMPILER)
  enable_language(CXX)
  include(CheckIncludeFileCXX)
  check_include_file_cxx(boost/interprocess/ipc/message_queue.hpp MP_HAVE_BOOST_IPC)
  if(MP_HAVE_BOOST_IPC)
    mp_bench_peer(bench_peer_boost SOURCES ${_peer_dir}/bench_peer_boost.cpp)
    set_target_properties(bench_peer_boost PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON)
    # The project's C-only warning flag would make g++ warn on every file.
    get_target_property(_opts bench_peer_boost COMPILE_OPTIONS)
    list(REMOVE_ITEM _opts -Wstrict-prototypes)
    set_target_properties(bench_peer_boost PROPERTIES COMPILE_OPTIONS "${_opts}")
    set_source_files_properties(${PROJECT_SOURCE_DIR}/bench/bench_util.c ${_peer_dir}/peer_util.c
      TARGET_DIRECTORY bench_peer_boost PROPERTIES COMPILE_OPTIONS -Wstrict-prototypes)
  else()
    mp_bench_peer_missing(bench_peer_boost "peer boost: libboost-dev not installed (scripts/setup.sh --bench)" "${_boost_rows}")
  endif()
else()
  mp_bench_peer_missing(bench_peer_boost "peer boost: no C++ compiler (g++)" "${_boost_rows}")
endif()
