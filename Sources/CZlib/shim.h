// zlib from the system (zlib1g-dev): kube-sim's SPDY/3.1 header blocks are zlib streams with a preset dictionary.
#include <zlib.h>
