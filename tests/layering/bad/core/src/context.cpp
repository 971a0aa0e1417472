// core must not know its modules, nor third parties
#include <vector>
#include "tether/context.hpp"
#include <tether/http.hpp>
#include <boost/asio.hpp>
