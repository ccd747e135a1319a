//! Shared cgroup plumbing: finding this process's cgroup directories from `/proc/self/cgroup` and `mountinfo`.
