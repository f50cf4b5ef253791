// The handlers of the entry points of entry_points.def: `entry_<name>` in the binding's source of its family.
#ifndef NEURAL_SIMILARITY_ENTRIES_H
#define NEURAL_SIMILARITY_ENTRIES_H

#include <napi.h>

#include "args.h"

namespace ns {

#define NS_ENTRY(name, args) Napi::Value entry_##name(const Call& c);
#include "entry_points.def"
#undef NS_ENTRY

}  // namespace ns

#endif
