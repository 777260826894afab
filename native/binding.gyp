{
  # Two products, both in build/Release/: the Node addon and the OCI runtime executable
  # (which is also the per-container monitor). The runtime is linked statically so that a
  # monitor maps no shared libraries (small RSS, nothing to resolve at start).
  "targets": [
    {
      "target_name": "shoal_native",
      "sources": [
        "src/addon/addon.cc",
        "src/addon/spawn.cc",
        "src/addon/fileops.cc",
        "src/addon/fileops_napi.cc",
        "src/addon/gunzip.cc",
        "src/addon/gunzip_napi.cc",
        "src/addon/sha256_napi.cc",
        "src/addon/direct_io.cc",
        "src/addon/netlink.cc",
        "src/addon/netlink_napi.cc",
        "src/addon/nftables.cc",
        "src/runtime/sealed_exe.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-O2"],
      "libraries": ["-ldl", "-lmnl", "-lnftables", "-lisal"]
    },
    {
      "target_name": "shoal-runtime",
      "type": "executable",
      "sources": [
        "src/runtime/main.cc",
        "src/runtime/util.cc",
        "src/runtime/spec.cc",
        "src/runtime/caps.cc",
        "src/runtime/seccomp_filter.cc",
        "src/runtime/cgroups.cc",
        "src/runtime/device_filter.cc",
        "src/runtime/mounts.cc",
        "src/runtime/process.cc",
        "src/runtime/channel.cc",
        "src/runtime/container.cc",
        "src/runtime/exec_child.cc",
        "src/runtime/logs.cc",
        "src/runtime/state.cc",
        "src/runtime/ctl_client.cc",
        "src/runtime/minijson.cc",
        "src/runtime/monitor.cc",
        "src/runtime/monitor_setup.cc",
        "src/runtime/state_read.cc",
        "src/runtime/hooks.cc",
        "src/runtime/sealed_exe.cc"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wno-unused-result", "-O2"],
      "ldflags": ["-static"],
      "libraries": ["-lseccomp"]
    },
    {
      # The monitor after setup: shoal-runtime execs into it. Only the event loop, logs, state
      # files and cgroup reads; no JSON library, no libseccomp, no mount code.
      "target_name": "shoal-monitor",
      "type": "executable",
      "sources": [
        "src/runtime/monitor_lean_main.cc",
        "src/runtime/monitor.cc",
        "src/runtime/minijson.cc",
        "src/runtime/cgroups.cc",
        "src/runtime/device_filter.cc",
        "src/runtime/logs.cc",
        "src/runtime/state.cc",
        "src/runtime/channel.cc",
        "src/runtime/util.cc",
        "src/runtime/sealed_exe.cc"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wno-unused-result", "-Os", "-ffunction-sections", "-fdata-sections"],
      "ldflags": ["-static", "-Wl,--gc-sections", "-s"]
    },
    {
      # docker-init for `--init` (PID 1 that forwards signals and reaps). Static: busybox-style images
      # have no libc. The runtime runs it from a sealed memfd copy, never from this file.
      "target_name": "shoal-init",
      "type": "executable",
      "sources": ["src/init/shoal-init.c"],
      "cflags": ["-Wall", "-Os", "-ffunction-sections", "-fdata-sections"],
      "ldflags": ["-static", "-Wl,--gc-sections", "-s"]
    }
  ]
}
