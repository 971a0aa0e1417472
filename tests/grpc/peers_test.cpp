// Interop with real peers (filled in below).
#include <gtest/gtest.h>
