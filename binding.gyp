# The exec-capture addon: netlink readers (audit, process connector) running on threads of
# their own, handing parsed exec events to JavaScript in batches; and nodewarden_sched, which puts
# central's sink thread at idle CPU priority. Built by `npm ci` through node-gyp from the headers
# already on the machine; they need nothing downloaded.
{
  "targets": [
    {
      "target_name": "nodewarden_native",
      "sources": [
        "native/addon.cc",
        "native/audit-control.cc",
        "native/audit-assembler.cc",
        "native/audit-reader.cc",
        "native/audit-text.cc",
        "native/bpf-reader.cc",
        "native/connector-reader.cc",
        "native/event-pump.cc",
        "native/proc-snapshot.cc",
        "native/reader.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags": ["-fno-exceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc": ["-fno-exceptions", "-std=gnu++17", "-O2"]
    },
    {
      "target_name": "nodewarden_sched",
      "sources": ["native/thread-priority.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags": ["-fno-exceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc": ["-fno-exceptions", "-std=gnu++17", "-O2"]
    }
  ]
}
