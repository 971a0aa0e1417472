// applications use public headers, never internals
#include <tether/context.hpp>
#include <tether/http.hpp>
#include "internal/tree.hpp"
