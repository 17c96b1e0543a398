# hallbench_selftest: run `hallbench probe rtt` and `hallbench probe fsync`,
# check they succeed and that their JSON has the keys bench/run reads, and
# that bad usage exits with 2.
# Usage: cmake -DHALLBENCH=path -DWORKDIR=dir -P selftest.cmake
cmake_minimum_required(VERSION 3.25)

file(REMOVE_RECURSE ${WORKDIR})
file(MAKE_DIRECTORY ${WORKDIR})

# Run hallbench with ARGN; fail unless it exits with want.
function(run want)
  execute_process(COMMAND ${HALLBENCH} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(NOT rc STREQUAL want)
    message(FATAL_ERROR "hallbench ${ARGN}: exit ${rc}, expected ${want}\n${out}${err}")
  endif()
endfunction()

# The JSON in file must have every key of ARGN; numbers must be >= 0.
function(check_json file)
  file(READ ${file} json)
  foreach(key IN LISTS ARGN)
    string(JSON value ERROR_VARIABLE problem GET "${json}" ${key})
    if(problem)
      message(FATAL_ERROR "${file}: no key '${key}': ${problem}\n${json}")
    endif()
    if(NOT key MATCHES "^(tool|mode|probe|dir)$" AND NOT value MATCHES "^[0-9]+(\\.[0-9]+)?$")
      message(FATAL_ERROR "${file}: ${key} = '${value}' is not a number\n${json}")
    endif()
  endforeach()
  string(JSON mode GET "${json}" mode)
  if(NOT mode STREQUAL "probe")
    message(FATAL_ERROR "${file}: mode is '${mode}', not probe")
  endif()
endfunction()

run(0 probe rtt --count 200 --json ${WORKDIR}/rtt.json --label selftest)
check_json(${WORKDIR}/rtt.json tool mode probe count p50_us p99_us)
file(READ ${WORKDIR}/rtt.json json)
string(JSON count GET "${json}" count)
string(JSON label GET "${json}" label)
if(NOT count EQUAL 200 OR NOT label STREQUAL "selftest")
  message(FATAL_ERROR "rtt.json: count ${count}, label '${label}'\n${json}")
endif()

run(0 probe fsync --dir ${WORKDIR} --count 20 --json ${WORKDIR}/fsync.json)
check_json(${WORKDIR}/fsync.json tool mode probe count p50_us p99_us dir)
file(GLOB left ${WORKDIR}/hallbench-fsync.*)
if(left)
  message(FATAL_ERROR "probe fsync left ${left} behind")
endif()

# Bad usage is 2, a failure 1.
run(2 probe rtt --count zero)
run(2 probe fsync)
run(2 load --target nosuch --kiosks 1)
run(2 load --target sqlite --db ${WORKDIR}/x.db --kiosks 0 --windows 0)
run(2 nosuchcommand)
run(1 probe fsync --dir ${WORKDIR}/does-not-exist --count 1)
