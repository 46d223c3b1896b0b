// A JSON Schema (draft-07) validator for the subset Helm charts use, with
// messages in the style Helm prints (gojsonschema's): "streams.0: url is
// required". A keyword it does not implement is an error, so a schema never
// silently means more than was checked. The chart tests also run ajv over the
// same values (tests/tools/k8s/values.js) and require both to agree.
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

var annotationKeywords = map[string]bool{
	"$schema": true, "$id": true, "$comment": true, "title": true,
	"description": true, "default": true, "examples": true,
	"definitions": true, "$defs": true, "readOnly": true, "writeOnly": true,
	"deprecated": true,
}

var checkedKeywords = map[string]bool{
	"type": true, "enum": true, "const": true, "properties": true,
	"required": true, "additionalProperties": true, "patternProperties": true,
	"propertyNames": true, "minProperties": true, "maxProperties": true,
	"items": true, "minItems": true, "maxItems": true, "uniqueItems": true,
	"minimum": true, "maximum": true, "exclusiveMinimum": true,
	"exclusiveMaximum": true, "multipleOf": true, "minLength": true,
	"maxLength": true, "pattern": true, "allOf": true, "anyOf": true,
	"oneOf": true, "not": true, "if": true, "then": true, "else": true,
	"$ref": true,
}

type validator struct {
	root     map[string]interface{}
	problems []string
	regexps  map[string]*regexp.Regexp
}

type schemaError struct{ msg string }

func (e schemaError) Error() string { return e.msg }

func validateSchema(schema interface{}, data interface{}) (problems []string, err error) {
	root, ok := schema.(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("the schema is not a JSON object")
	}
	v := &validator{root: root, regexps: map[string]*regexp.Regexp{}}
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(schemaError)
			if !ok {
				panic(r)
			}
			err = se
		}
	}()
	v.check(root, data, nil, "#")
	return v.problems, nil
}

func pathString(path []string) string {
	if len(path) == 0 {
		return "(root)"
	}
	return strings.Join(path, ".")
}

func with(path []string, key string) []string {
	p := make([]string, len(path), len(path)+1)
	copy(p, path)
	return append(p, key)
}

func describe(s map[string]interface{}) string {
	if d, ok := s["description"].(string); ok && d != "" {
		return " (" + strings.TrimSuffix(d, ".") + ")"
	}
	return ""
}

func jsonText(v interface{}) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func typeOf(v interface{}) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if x == math.Trunc(x) && !math.IsInf(x, 0) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []interface{}:
		return "array"
	case map[string]interface{}:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func hasType(v interface{}, t string) bool {
	got := typeOf(v)
	return got == t || (t == "number" && got == "integer")
}

func (v *validator) resolve(ref string) map[string]interface{} {
	if !strings.HasPrefix(ref, "#") {
		panic(schemaError{"only local $ref is supported: " + ref})
	}
	var cur interface{} = v.root
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#"), "/")[1:] {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]interface{})
		if !ok {
			panic(schemaError{"unresolvable $ref " + ref})
		}
		cur = m[part]
	}
	s, ok := cur.(map[string]interface{})
	if !ok {
		panic(schemaError{"unresolvable $ref " + ref})
	}
	return s
}

func (v *validator) re(pattern string) *regexp.Regexp {
	if r, ok := v.regexps[pattern]; ok {
		return r
	}
	r, err := regexp.Compile(pattern)
	if err != nil {
		panic(schemaError{fmt.Sprintf("pattern %q: %v", pattern, err)})
	}
	v.regexps[pattern] = r
	return r
}

func num(s map[string]interface{}, key, where string) (float64, bool) {
	x, ok := s[key]
	if !ok {
		return 0, false
	}
	f, ok := x.(float64)
	if !ok {
		panic(schemaError{fmt.Sprintf("%s: %s must be a number", where, key)})
	}
	return f, true
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// errorsOf validates data against s without recording, for anyOf/oneOf/not/if.
func (v *validator) errorsOf(s interface{}, data interface{}, path []string, where string) []string {
	saved := v.problems
	v.problems = nil
	v.check(s, data, path, where)
	got := v.problems
	v.problems = saved
	return got
}

func (v *validator) add(path []string, format string, a ...interface{}) {
	v.problems = append(v.problems, pathString(path)+": "+fmt.Sprintf(format, a...))
}

func (v *validator) check(schema interface{}, data interface{}, path []string, where string) {
	if b, ok := schema.(bool); ok {
		if !b {
			v.add(path, "no value is allowed here")
		}
		return
	}
	s, ok := schema.(map[string]interface{})
	if !ok {
		panic(schemaError{where + ": a schema must be an object or a boolean"})
	}
	keys := make([]string, 0, len(s))
	for k := range s {
		if !annotationKeywords[k] && !checkedKeywords[k] {
			panic(schemaError{fmt.Sprintf("%s: keyword %q is not supported by this validator", where, k)})
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)

	if ref, ok := s["$ref"].(string); ok {
		v.check(v.resolve(ref), data, path, ref)
	}
	if t, ok := s["type"]; ok {
		var types []string
		switch x := t.(type) {
		case string:
			types = []string{x}
		case []interface{}:
			for _, e := range x {
				types = append(types, e.(string))
			}
		}
		match := false
		for _, t := range types {
			match = match || hasType(data, t)
		}
		if !match {
			v.add(path, "Invalid type. Expected: %s, given: %s%s", strings.Join(types, " or "), typeOf(data), describe(s))
			return // the other keywords would only repeat it
		}
	}
	if e, ok := s["enum"].([]interface{}); ok {
		found := false
		for _, x := range e {
			found = found || reflect.DeepEqual(x, data)
		}
		if !found {
			opts := make([]string, len(e))
			for i, x := range e {
				opts[i] = jsonText(x)
			}
			v.add(path, "must be one of the following: %s, given: %s%s", strings.Join(opts, ", "), jsonText(data), describe(s))
		}
	}
	if c, ok := s["const"]; ok && !reflect.DeepEqual(c, data) {
		v.add(path, "does not match: %s%s", jsonText(c), describe(s))
	}

	switch d := data.(type) {
	case map[string]interface{}:
		v.checkObject(s, d, path, where)
	case []interface{}:
		v.checkArray(s, d, path, where)
	case string:
		n := float64(utf8.RuneCountInString(d))
		if m, ok := num(s, "minLength", where); ok && n < m {
			v.add(path, "String length must be greater than or equal to %s%s", fmtNum(m), describe(s))
		}
		if m, ok := num(s, "maxLength", where); ok && n > m {
			v.add(path, "String length must be less than or equal to %s%s", fmtNum(m), describe(s))
		}
		if p, ok := s["pattern"].(string); ok && !v.re(p).MatchString(d) {
			v.add(path, "Does not match pattern '%s', given: %q%s", p, d, describe(s))
		}
	case float64:
		if m, ok := num(s, "minimum", where); ok && d < m {
			v.add(path, "Must be greater than or equal to %s, given: %s%s", fmtNum(m), fmtNum(d), describe(s))
		}
		if m, ok := num(s, "maximum", where); ok && d > m {
			v.add(path, "Must be less than or equal to %s, given: %s%s", fmtNum(m), fmtNum(d), describe(s))
		}
		if m, ok := num(s, "exclusiveMinimum", where); ok && d <= m {
			v.add(path, "Must be greater than %s, given: %s%s", fmtNum(m), fmtNum(d), describe(s))
		}
		if m, ok := num(s, "exclusiveMaximum", where); ok && d >= m {
			v.add(path, "Must be less than %s, given: %s%s", fmtNum(m), fmtNum(d), describe(s))
		}
		if m, ok := num(s, "multipleOf", where); ok && m > 0 && math.Mod(d, m) != 0 {
			v.add(path, "Must be a multiple of %s%s", fmtNum(m), describe(s))
		}
	}

	if all, ok := s["allOf"].([]interface{}); ok {
		for i, sub := range all {
			v.check(sub, data, path, fmt.Sprintf("%s/allOf/%d", where, i))
		}
	}
	if anyOf, ok := s["anyOf"].([]interface{}); ok {
		var first []string
		matched := false
		for i, sub := range anyOf {
			errs := v.errorsOf(sub, data, path, fmt.Sprintf("%s/anyOf/%d", where, i))
			if len(errs) == 0 {
				matched = true
				break
			}
			if first == nil {
				first = errs
			}
		}
		if !matched {
			v.add(path, "Must validate at least one schema (anyOf)%s", describe(s))
			v.problems = append(v.problems, first...)
		}
	}
	if oneOf, ok := s["oneOf"].([]interface{}); ok {
		n := 0
		for i, sub := range oneOf {
			if len(v.errorsOf(sub, data, path, fmt.Sprintf("%s/oneOf/%d", where, i))) == 0 {
				n++
			}
		}
		if n != 1 {
			v.add(path, "Must validate one and only one schema (oneOf), %d matched%s", n, describe(s))
		}
	}
	if not, ok := s["not"]; ok {
		if len(v.errorsOf(not, data, path, where+"/not")) == 0 {
			msg := "Must not validate the schema (not)"
			if sm, ok := not.(map[string]interface{}); ok {
				if d := describe(sm); d != "" {
					msg = strings.TrimSuffix(strings.TrimPrefix(d, " ("), ")")
				}
			}
			v.add(path, "%s%s", msg, describe(s))
		}
	}
	if cond, ok := s["if"]; ok {
		if len(v.errorsOf(cond, data, path, where+"/if")) == 0 {
			if then, ok := s["then"]; ok {
				v.check(then, data, path, where+"/then")
			}
		} else if els, ok := s["else"]; ok {
			v.check(els, data, path, where+"/else")
		}
	}
}

func (v *validator) checkObject(s map[string]interface{}, d map[string]interface{}, path []string, where string) {
	props, _ := s["properties"].(map[string]interface{})
	if req, ok := s["required"].([]interface{}); ok {
		for _, r := range req {
			name := r.(string)
			if _, ok := d[name]; !ok {
				desc := ""
				if ps, ok := props[name].(map[string]interface{}); ok {
					desc = describe(ps)
				}
				v.add(path, "%s is required%s", name, desc)
			}
		}
	}
	if m, ok := num(s, "minProperties", where); ok && float64(len(d)) < m {
		v.add(path, "Must have at least %s properties%s", fmtNum(m), describe(s))
	}
	if m, ok := num(s, "maxProperties", where); ok && float64(len(d)) > m {
		v.add(path, "Must have at most %s properties%s", fmtNum(m), describe(s))
	}
	patterns, _ := s["patternProperties"].(map[string]interface{})
	names := make([]string, 0, len(d))
	for k := range d {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		val := d[k]
		p := with(path, k)
		matched := false
		if ps, ok := props[k]; ok {
			matched = true
			v.check(ps, val, p, where+"/properties/"+k)
		}
		pats := make([]string, 0, len(patterns))
		for pat := range patterns {
			pats = append(pats, pat)
		}
		sort.Strings(pats)
		for _, pat := range pats {
			if v.re(pat).MatchString(k) {
				matched = true
				v.check(patterns[pat], val, p, where+"/patternProperties/"+pat)
			}
		}
		if pn, ok := s["propertyNames"]; ok {
			for _, e := range v.errorsOf(pn, k, p, where+"/propertyNames") {
				v.problems = append(v.problems, pathString(p)+": property name: "+strings.SplitN(e, ": ", 2)[1])
			}
		}
		if matched {
			continue
		}
		switch ap := s["additionalProperties"].(type) {
		case bool:
			if !ap {
				allowed := make([]string, 0, len(props))
				for name := range props {
					allowed = append(allowed, name)
				}
				sort.Strings(allowed)
				hint := ""
				if len(allowed) > 0 {
					hint = " (allowed: " + strings.Join(allowed, ", ") + ")"
				}
				v.add(path, "Additional property %s is not allowed%s", k, hint)
			}
		case map[string]interface{}:
			v.check(ap, val, p, where+"/additionalProperties")
		}
	}
}

func (v *validator) checkArray(s map[string]interface{}, d []interface{}, path []string, where string) {
	n := float64(len(d))
	if m, ok := num(s, "minItems", where); ok && n < m {
		v.add(path, "Array must have at least %s items%s", fmtNum(m), describe(s))
	}
	if m, ok := num(s, "maxItems", where); ok && n > m {
		v.add(path, "Array must have at most %s items%s", fmtNum(m), describe(s))
	}
	if u, ok := s["uniqueItems"].(bool); ok && u {
		for i := range d {
			for j := 0; j < i; j++ {
				if reflect.DeepEqual(d[i], d[j]) {
					v.add(path, "items at index %d and %d are equal; items must be unique%s", j, i, describe(s))
				}
			}
		}
	}
	if items, ok := s["items"]; ok {
		if _, isList := items.([]interface{}); isList {
			panic(schemaError{where + ": items as an array (tuple validation) is not supported"})
		}
		for i, e := range d {
			v.check(items, e, with(path, strconv.Itoa(i)), where+"/items")
		}
	}
}
