// The N-API module: one JavaScript function per entry of entry_points.def (each parses its arguments against
// the table's kinds, then runs its handler), the table itself as `entryPoints` (what the garbage test walks),
// the codes of kernels.h's enumerations as `enums`, and the runtime entry points.
//
// An entry point that fails *returns* its Error (TypeError, RangeError, Error) and the library's loader
// (lib/backend/native.ts) throws it. Thrown from here, Node-API would keep the exception pending while it rethrows
// it; a garbage collection inside that rethrow runs our buffer finalizers (synchronous, NAPI_EXPERIMENTAL), and
// Node 20 takes the pending exception for one the finalizer raised and aborts the process (SIGTRAP, "Check failed:
// AllowJavascriptExecution::IsAllowed"): seen in the garbage test whenever a collection fell on a throw.
#include <napi.h>

#include <string>
#include <vector>

#include "args.h"
#include "cpu.h"
#include "entries.h"
#ifdef NS_WITH_CUDA
#include "cuda.h"
#endif

namespace ns {
namespace {

struct Entry {
  const char* name;
  Napi::Value (*handler)(const Call&);
  std::vector<ArgSpec> spec;
};

#define NS_ENUM_SIZE_dtype NS_DTYPE_COUNT
#define NS_ENUM_SIZE_device NS_DEVICE_COUNT
#define NS_ENUM_SIZE_unary_op NS_UNARY_COUNT
#define NS_ENUM_SIZE_binary_op NS_BINARY_COUNT
#define NS_ENUM_SIZE_reduce_op NS_REDUCE_COUNT
#define NS_ENUM_SIZE_random_kind NS_RANDOM_COUNT
#define NS_DT_FLOAT kFloat
#define NS_DT_INT32 kInt32
#define NS_DT_ANY kAnyDtype
#define MAX kMaxSafe
#define INT(n, lo, hi) ArgSpec{Kind::Int, #n, lo, hi, nullptr, 0, 0}
#define FLAG(n) ArgSpec{Kind::Flag, #n, 0, 1, nullptr, 0, 0}
#define ENUM(n, list) ArgSpec{Kind::Enum, #n, 0, NS_ENUM_SIZE_##list - 1, #list, 0, 0}
#define NUMBER(n) ArgSpec{Kind::Number, #n, 0, 0, nullptr, 0, 0}
#define ANY_NUMBER(n) ArgSpec{Kind::AnyNumber, #n, 0, 0, nullptr, 0, 0}
#define INTS(n, count) ArgSpec{Kind::Ints, #n, 0, kMaxSafe, nullptr, 0, count}
#define BUFFER(n, d) ArgSpec{Kind::Buffer, #n, 0, 0, nullptr, NS_DT_##d, 0}
#define OPTIONAL(n, d) ArgSpec{Kind::Optional, #n, 0, 0, nullptr, NS_DT_##d, 0}
#define ANY_DEVICE(n, d) ArgSpec{Kind::AnyDevice, #n, 0, 0, nullptr, NS_DT_##d, 0}
#define HOST(n) ArgSpec{Kind::Host, #n, 0, 0, nullptr, 0, 0}
#define OBJECT(n) ArgSpec{Kind::Object, #n, 0, 0, nullptr, 0, 0}
#define NS_EXPAND(...) __VA_ARGS__
#define NS_ENTRY(name, args) Entry{#name, entry_##name, {NS_EXPAND args}},

const std::vector<Entry>& entries() {
  static const std::vector<Entry> table = {
#include "entry_points.def"
  };
  return table;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Int: return "int";
    case Kind::Flag: return "flag";
    case Kind::Enum: return "enum";
    case Kind::Number: return "number";
    case Kind::AnyNumber: return "anyNumber";
    case Kind::Ints: return "ints";
    case Kind::Buffer: return "buffer";
    case Kind::Optional: return "optional";
    case Kind::AnyDevice: return "anyDevice";
    case Kind::Host: return "host";
    default: return "object";
  }
}

// {name: [{name, kind, lo, hi, list, dtypes, count}]} for every entry point.
Napi::Object describe_entries(Napi::Env env) {
  Napi::Object out = Napi::Object::New(env);
  for (const Entry& e : entries()) {
    Napi::Array args = Napi::Array::New(env, e.spec.size());
    for (size_t i = 0; i < e.spec.size(); ++i) {
      const ArgSpec& s = e.spec[i];
      Napi::Object a = Napi::Object::New(env);
      a.Set("name", s.name);
      a.Set("kind", kind_name(s.kind));
      if (s.kind == Kind::Int || s.kind == Kind::Flag || s.kind == Kind::Enum) {
        a.Set("lo", static_cast<double>(s.lo));
        a.Set("hi", static_cast<double>(s.hi));
      }
      if (s.list) a.Set("list", s.list);
      if (s.kind == Kind::Buffer || s.kind == Kind::Optional || s.kind == Kind::AnyDevice)
        a.Set("dtypes", s.dtypes == kFloat ? "float" : s.dtypes == kInt32 ? "int32" : "any");
      if (s.kind == Kind::Ints) a.Set("count", s.count);
      args.Set(static_cast<uint32_t>(i), a);
    }
    out.Set(e.name, args);
  }
  return out;
}

// The X-macro lists of kernels.h as {list: {jsName: code}}.
Napi::Object describe_enums(Napi::Env env) {
  Napi::Object out = Napi::Object::New(env);
  auto list = [&](const char* name, std::initializer_list<const char*> members) {
    Napi::Object o = Napi::Object::New(env);
    int code = 0;
    for (const char* m : members) o.Set(m, code++);
    out.Set(name, o);
  };
#define NS_JS_NAME(c, js) #js,
  list("dtype", {NS_DTYPES(NS_JS_NAME)});
  list("device", {NS_DEVICES(NS_JS_NAME)});
  list("unary_op", {NS_UNARY_OPS(NS_JS_NAME)});
  list("binary_op", {NS_BINARY_OPS(NS_JS_NAME)});
  list("reduce_op", {NS_REDUCE_OPS(NS_JS_NAME)});
  list("random_kind", {NS_RANDOM_KINDS(NS_JS_NAME)});
#undef NS_JS_NAME
  return out;
}

}  // namespace

// runtimeInfo(): the CPU's threads, ISA and workspace, and what CUDA says about this machine.
Napi::Value entry_runtimeInfo(const Call& c) {
  Napi::Env env = c.env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("threads", ns_cpu_num_threads());
  o.Set("isa", ns_cpu_isa());
  o.Set("workspaceCachedBytes", static_cast<double>(ns_cpu_workspace_cached_bytes()));
  o.Set("workspaceInUseBytes", static_cast<double>(ns_cpu_workspace_in_use_bytes()));
  Napi::Object cuda = Napi::Object::New(env);
#ifdef NS_WITH_CUDA
  ns_cuda_info info{};
  ns_cuda_query(&info);
  cuda.Set("compiled", true);
  cuda.Set("devices", info.device_count);
  if (info.device_count > 0) {
    cuda.Set("device", info.device_name);
    cuda.Set("computeCapability", std::to_string(info.compute_major) + "." + std::to_string(info.compute_minor));
    cuda.Set("totalMemory", static_cast<double>(info.total_memory));
    cuda.Set("multiprocessors", info.multiprocessors);
  }
  cuda.Set("driverVersion", info.driver_version);
  cuda.Set("runtimeVersion", info.runtime_version);
  cuda.Set("allowTF32", ns_cuda_allow_tf32() != 0);
  cuda.Set("reason", info.reason);
#else
  cuda.Set("compiled", false);
  cuda.Set("devices", 0);
  cuda.Set("reason", "this binary was built without CUDA kernels (the CPU-only binding.gyp build)");
#endif
  o.Set("cuda", cuda);
  return o;
}

Napi::Value entry_setNumThreads(const Call& c) {
  ns_cpu_set_num_threads(static_cast<int>(c.integer(0)));
  return c.env().Undefined();
}

Napi::Value entry_workspaceTrim(const Call& c) {
  ns_cpu_workspace_trim();
  return c.env().Undefined();
}

// workspacePeak(reset): most scratch bytes in use at once since the last reset.
Napi::Value entry_workspacePeak(const Call& c) {
  return Napi::Number::New(c.env(), static_cast<double>(ns_cpu_workspace_peak_bytes(static_cast<int>(c.integer(0)))));
}

// cudaSetAllowTF32(allow): TF32 tensor cores for float32 products (a no-op without CUDA).
Napi::Value entry_cudaSetAllowTF32(const Call& c) {
#ifdef NS_WITH_CUDA
  ns_cuda_set_allow_tf32(static_cast<int>(c.integer(0)));
#endif
  return c.env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  for (const Entry& e : entries()) {
    exports.Set(e.name, Napi::Function::New(
                            env,
                            [](const Napi::CallbackInfo& info) -> Napi::Value {
                              const Entry* entry = static_cast<const Entry*>(info.Data());
                              try {
                                Call call(info, entry->name, entry->spec);
                                return entry->handler(call);
                              } catch (const Napi::Error& e) {
                                return e.Value();  // returned, not thrown: see the header
                              }
                            },
                            e.name, const_cast<Entry*>(&e)));
  }
  exports.Set("entryPoints", describe_entries(env));
  exports.Set("enums", describe_enums(env));
  return exports;
}

}  // namespace ns

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return ns::Init(env, exports); }

NODE_API_MODULE(neural_similarity, InitModule)
