// only core, registry and testing read the node internals
#include "internal/tree.hpp"
#include <tether/missing.hpp>
