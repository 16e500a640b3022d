package derive

import "testing"

// TestDepsSameQuestions: a lookup asked exactly the questions of an earlier one, and
// answered each with nothing, keeps no copy of them, and is still checked and asked.
func TestDepsSameQuestions(t *testing.T) {
	volumes := map[string]*PV{"pv-1": {}, "pv-2": {}}
	attachments := map[string][]*int{}
	record := func(attachmentQuestions ...string) (*View, Deps) {
		v := NewView(nil, nil)
		pv := NewLookup(v, "volumes", func(name string) *PV { return volumes[name] })
		att := NewListLookup(v, "attachments", func(name string) []*int { return append([]*int(nil), attachments[name]...) })
		var deps Deps
		v.RecordInto(&deps)
		pv.Get("pv-2")
		pv.Get("pv-1")
		for _, q := range attachmentQuestions {
			att.Get(q)
		}
		v.RecordInto(nil)
		return v, deps.Compacted(v)
	}

	v, kept := record("pv-1", "pv-2")
	if kept.answers[2] != sameQuestions(1) {
		t.Fatalf("attachments kept as %#v, want the volumes' questions", kept.answers[2])
	}
	if !kept.Unchanged(v) {
		t.Error("unchanged answers reported changed")
	}
	if !v.Asked("attachments", func(key string) bool { return key == "pv-2" })(&kept) ||
		v.Asked("attachments", func(key string) bool { return key == "pv-3" })(&kept) {
		t.Error("the attachments' questions are not the volumes'")
	}
	attachments["pv-2"] = []*int{new(int)}
	if kept.Unchanged(v) {
		t.Error("a volume that gained an attachment left the answers unchanged")
	}
	delete(attachments, "pv-2")

	// Other questions, or an answer that is not empty, are kept as they are.
	for _, questions := range [][]string{{"pv-1"}, {"pv-1", "pv-2", "pv-3"}} {
		if _, kept := record(questions...); kept.answers[2] == sameQuestions(1) {
			t.Errorf("attachments of %v kept as the volumes' questions", questions)
		}
	}
	attachments["pv-1"] = []*int{new(int)}
	if _, kept := record("pv-1", "pv-2"); kept.answers[2] == sameQuestions(1) {
		t.Error("attachments with an answer kept as the volumes' questions")
	}
}
