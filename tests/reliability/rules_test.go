package reliability

import "testing"

func checkRulesOverRecording(t *testing.T, records []scrapeRecord, markers []marker) {
	t.Skip("todo")
}
