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

// sched_setscheduler for thread `tid` (0: the calling thread); a failure becomes a JavaScript
// error carrying the errno's name as `code`.
void SetPolicy(Napi::Env env, int tid, int policy, const char* policyName) {
  struct sched_param param;
  memset(&param, 0, sizeof param);
  if (sched_setscheduler(tid, policy, &param) == 0) return;
  int err = errno;
  const char* name = strerrorname_np(err);
  Napi::Error e = Napi::Error::New(env, std::string("sched_setscheduler(") + policyName + "): " + strerror(err));
  e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  e.Set("errno", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
}

Napi::Value SetThreadIdle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SetPolicy(env, 0, SCHED_IDLE, "SCHED_IDLE");
  return env.Undefined();
}

// Back to the normal policy, for a thread of this process named by its id: central lifts its sink
// thread out of SCHED_IDLE when it stops it, so that a busy machine cannot starve the drain past
// its deadline. Unprivileged, the kernel allows it within RLIMIT_NICE; otherwise it fails with EPERM.
Napi::Value SetThreadNormal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "setThreadNormal(tid): a thread id").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int tid = info[0].As<Napi::Number>().Int32Value();
  if (tid <= 0) {
    Napi::RangeError::New(env, "setThreadNormal(tid): a positive thread id").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  SetPolicy(env, tid, SCHED_OTHER, "SCHED_OTHER");
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("setThreadIdle", Napi::Function::New(env, SetThreadIdle, "setThreadIdle"));
  exports.Set("setThreadNormal", Napi::Function::New(env, SetThreadNormal, "setThreadNormal"));
  return exports;
}

}  // namespace

NODE_API_MODULE(nodewarden_sched, Init)
