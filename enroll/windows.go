package enroll

import "strconv"

// WindowLabel names the i-th rate-limit window of Mangopay's headers by its length:
// Mangopay lists its windows in the order 15 minutes, 30 minutes, 1 hour, 24 hours
// (docs/mangopay.md, "Rate limits"), so the labels are "15m", "30m", "1h" and "24h". A
// window past the documented four is named by its position, "window-4" and so on.
func WindowLabel(i int) string {
	switch i {
	case 0:
		return "15m"
	case 1:
		return "30m"
	case 2:
		return "1h"
	case 3:
		return "24h"
	}
	return "window-" + strconv.Itoa(i)
}
