// The nodewarden_sched addon: one call for central's sink thread, which asks the kernel to run it
// only when a CPU would otherwise be idle (SCHED_IDLE), so that formatting and sending events for
// SIEMs never delays ingest. Linux keeps a scheduling policy per thread: sched_setscheduler with
// pid 0 changes the calling thread's alone. Lowering one's own priority needs no privilege.
#include <errno.h>
#include <napi.h>
#include <sched.h>
#include <string.h>

#include <string>

namespace {

Napi::Value SetThreadIdle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct sched_param param;
  memset(&param, 0, sizeof param);
  if (sched_setscheduler(0, SCHED_IDLE, &param) != 0) {
    int err = errno;
    const char* name = strerrorname_np(err);
    Napi::Error e = Napi::Error::New(env, std::string("sched_setscheduler(SCHED_IDLE): ") + strerror(err));
    e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
    e.Set("errno", Napi::Number::New(env, err));
    e.ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("setThreadIdle", Napi::Function::New(env, SetThreadIdle, "setThreadIdle"));
  return exports;
}

}  // namespace

NODE_API_MODULE(nodewarden_sched, Init)
