// The CPU backend's error reporting, shared by its kernels and its device interface (memory.cc).
#ifndef NEURAL_SIMILARITY_CPU_MEMORY_H
#define NEURAL_SIMILARITY_CPU_MEMORY_H

#include <string>

namespace ns {

// Records `message` for the CPU device's last_error() on this thread and returns `status`.
int cpu_fail(int status, const std::string& message);

}  // namespace ns

#endif
