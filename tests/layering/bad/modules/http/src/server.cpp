// a module must not reach into another module
#include "tether/http.hpp"
#include "../../grpc/src/call.hpp"
#include <sqlite3.h>
