// Per-thread partial sums, the one reduction of the kernels: inside a parallel region each thread
// adds into its own row, and the rows are added last, element by element in thread order, so that
// a run gives the same bits every time it has the same number of threads.
#pragma once

#include <omp.h>

#include <cstddef>
#include <vector>

namespace fewshot {

template <class T>
class ThreadSums {
 public:
  // Rows of `size` zeros, one per thread a parallel region may have.
  explicit ThreadSums(size_t size) : size_(size), part_((size_t)omp_get_max_threads() * size, T(0)) {}

  // The calling thread's row (inside a parallel region).
  T* mine() { return &part_[(size_t)omp_get_thread_num() * size_]; }

  // Adds v[0, size) into the calling thread's row.
  template <class V>
  void add(const V* v) {
    T* row = mine();
    for (size_t i = 0; i < size_; i++) row[i] += v[i];
  }

  // Element i summed over the threads' rows, in thread order.
  T total(size_t i) const {
    T sum = T(0);
    for (size_t at = i; at < part_.size(); at += size_) sum += part_[at];
    return sum;
  }

 private:
  size_t size_;
  std::vector<T> part_;
};

}  // namespace fewshot
