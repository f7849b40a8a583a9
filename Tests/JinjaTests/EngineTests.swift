import Foundation
import Jinja
import TestSupport
import XCTest

/// Small templates, each aimed at one rule of jinja2 — whitespace control, scoping, loop
/// variables, slices, filters, tests, macros, Python's `str()` and `json.dumps` — rendered by this
/// engine and by Python's jinja2 (`render_reference.py`): byte-identical text, or both failing.
final class EngineTests: XCTestCase {
    private static let context = #"""
        {"messages": [{"role": "system", "content": "  sys  "}, {"role": "user", "content": "Hi é 你"}, {"role": \#
        "assistant", "content": "Yo\n"}],
         "n": 7, "x": 2.5, "big": 1e20, "small": 0.00001, "flag": true, "nothing": null, "words": ["b", "a", "c", "a"],
         "d": {"z": 1, "a": [1, 2.0, "q"], "nested": {"k": null}}, "s": "a,b,,c", "bos_token": "<s>"}
        """#

    static let templates: [String] = [
        "{{ n }}|{{ x }}|{{ big }}|{{ small }}|{{ flag }}|{{ nothing }}|{{ undefined_name }}|{{ words }}|{{ d }}",
        "{{ n / 2 }} {{ n // 2 }} {{ n % 3 }} {{ -n % 3 }} {{ n ** 2 }} {{ x * 2 }} {{ 'ab' * 3 }} {{ n ~ x }} {{ 1 + "
            + "2 * 3 }}",
        "{% for m in messages %}{{ loop.index }}/{{ loop.length }} {{ loop.first }} {{ loop.last }} {{ loop.revindex0 "
            + "}} {{ m.role }}\n{% endfor %}",
        "{%- for m in messages -%}\n  [{{ m['role'] }}]\n{%- endfor %}\nend",
        "  {% if flag %}\n    yes\n  {% endif %}\nafter",
        "{% set t = 1 %}{% for i in [1, 2] %}{% set t = t + i %}{{ t }}{% endfor %}|{{ t }}",
        "{% set ns = namespace(total=0) %}{% for i in range(5) %}{% set ns.total = ns.total + i %}{% endfor %}{{ "
            + "ns.total }}",
        "{{ messages[1:] | length }} {{ words[::-1] }} {{ words[-1] }} {{ s[1:4] }} {{ 'héllo'[1] }} {{ words[10] }}",
        "{{ s.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ s.rsplit(',', 1) }} {{ "
            + "'x'.join(words) }}",
        "{{ '  pad  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '\\n\\nq'.lstrip('\\n') }}|{{ 'Q\\n'.rstrip() }}|{{ "
            + "messages[0].content | trim }}",
        "{{ 'abc'.startswith('a') }} {{ 'abc'.endswith(('x', 'c')) }} {{ 'Hello'.upper() }} {{ 'hello world'.title() "
            + "}} {{ 'hELLO'.capitalize() }}",
        "{{ 'a' in 'cat' }} {{ 'z' not in words }} {{ 'z' in d }} {{ 1 in [1.0] }} {{ true == 1 }} {{ none is none }} "
            + "{{ n is odd }}",
        "{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ 'é\"\\n' | tojson }}|{{ [1, 2.5, none, true] | tojson }}|{{ d "
            + "| tojson(sort_keys=true) }}",
        "{{ words | join(', ') }} {{ words | first }} {{ words | last }} {{ words | unique | list }} {{ words | length "
            + "}} {{ 'abc' | list }}",
        "{{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ messages | rejectattr('role', 'in', "
            + "['system']) | map(attribute='role') | join }}",
        "{{ messages | map(attribute='content') | map('trim') | join('|') }} {{ [0, 1, '', 'a'] | select | list }} {{ "
            + "[1, 2, 3] | reject('odd') | list }}",
        "{{ nothing | default('dflt') }} {{ missing | default('m') }} {{ '' | default('e', true) }} {{ d.items() | "
            + "list }} {{ d | items | list | length }}",
        "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}[{{ k }}]{% endfor %}",
        "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i > 4 %}{% break %}{% endif %}{{ i }}{% "
            + "endfor %}",
        "{% for i in [] %}x{% else %}empty{% endfor %}{% for i in range(6) if i is even %}{{ i }}{% endfor %}",
        "{% macro turn(role, text='none') %}<{{ role }}>{{ text }}</{{ role }}>{% endmacro %}{{ turn('u', 'hi') }}{{ "
            + "turn('a') }}{{ turn(text='t', role='s') }}",
        "{{ 'yes' if flag else 'no' }} {{ 'yes' if nothing else 'no' }} [{{ 'only' if nothing }}] {{ (n > 3) and (x < "
            + "3) }} {{ nothing or 'fallback' }}",
        "{% if messages[0].role == 'system' %}{% set rest = messages[1:] %}{% else %}{% set rest = messages %}{% endif "
            + "%}{{ rest | length }}",
        "{{ d.nested.k is none }} {{ d.missing is defined }} {{ d.a[2] is string }} {{ d.a[1] is float }} {{ d.a[0] is "
            + "integer }} {{ d is mapping }}",
        "{# a comment #}\n{%- set a = 'A' -%}\n   {{- a -}}   \n{%+ if true %} keep{% endif %}",
        "{{ \"it's\" }} {{ 'say \"hi\"' }} {{ ['it\\'s', \"a\\\"b\"] }} {{ 'tab\\there' }} {{ '\\u00e9\\x41' }}",
        "{{ n | string + 'x' }} {{ '5' | int + 1 }} {{ 'q' | int }} {{ x | int }} {{ '2.5' | float }} {{ -3 | abs }} "
            + "{{ 10 / 4 }}",
        "{{ 'a\\nb' | indent(2) }}|{{ 'a\\n\\nb' | indent(2, true) }}|{{ 'Mixed' | lower }}|{{ 'abc' | upper }}|{{ "
            + "'a-b' | replace('-', '+') }}",
        "{{ raise_exception('stop here') }}",
        "{{ undefined_name.attribute }}",
        "{{ 1 + 'a' }}",
        "{% for c in 'héllo' %}{{ c }}.{% endfor %} {{ 'héllo' | length }} {{ 'e\\u0301' | length }} {{ 'e\\u0301' == "
            + "'\\u00e9' }}",
        "{% set x %}captured {{ n }}{% endset %}{{ x | upper }}",
        "{{ messages[0]['content'] }}{{ messages.0.role }} {{ d['a'][1:] }} {{ [[1, 2], [3]] | length }} {{ {'k': "
            + "'v'}.get('k') }} {{ d.get('q', 3) }}",
        "{{ 3 < 5 < 4 }} {{ 'abc' < 'abd' }} {{ [1, 2] == [1, 2] }} {{ d.nested == {'k': none} }} {{ 2 != 2.0 }}",
        "{%- for message in messages %}\n    {%- if loop.index0 % 2 == 0 %}\n        {{- message.role }}\n    {%- "
            + "endif %}\n{%- endfor %}\n",
        "line one\n  {%- if true %} kept {% endif -%}\n\n  line two\n{% if true %}\n  three\n{% endif %}",
        "{{ words | sort }}",
        "{% include 'other.jinja' %}",
    ]

    func testSmallTemplatesRenderAsJinja2Does() throws {
        let python = try Repository.python()
        let directory = try TemporaryDirectory()
        var cases: [String] = []
        for (index, source) in Self.templates.enumerated() {
            let path = directory.path("t\(index).jinja")
            try source.write(toFile: path, atomically: true, encoding: .utf8)
            cases.append(#"{"template": "\#(path)", "context": \#(Self.context)}"#)
        }
        try ("[" + cases.joined(separator: ",\n") + "]").write(
            toFile: directory.path("cases.json"), atomically: true, encoding: .utf8)
        let reference = try ChildProcess.run(
            python, [Repository.path("Tests/JinjaTests/render_reference.py"), directory.path("cases.json")],
            timeout: 120)
        XCTAssertEqual(reference.status, 0, reference.stderr)
        guard case .list(let expected) = try JSON.parse(Array(reference.stdout.utf8)),
            expected.count == Self.templates.count,
            case .dict(let variables) = try JSON.parse(Array(Self.context.utf8))
        else {
            return XCTFail("no reference results: \(reference.stdout.prefix(300))")
        }
        let context = Dictionary(uniqueKeysWithValues: variables.pairs)
        var refused: [String] = []
        for (index, source) in Self.templates.enumerated() {
            guard case .dict(let result) = expected[index] else { return XCTFail("case \(index)") }
            let ours = Result { try Template(source).render(context) }
            switch (result["text"], ours) {
            case (.string(let text)?, .success(let rendered)):
                XCTAssertEqual(
                    Value.string(rendered).representation, Value.string(text).representation,
                    "template \(index): \(source)")
            case (.string(let text)?, .failure(let error)):
                if case TemplateError.unsupported = error {
                    refused.append(source)
                } else {
                    XCTFail(
                        "template \(index): jinja2 rendered \(Value.string(text).representation), we failed: "
                            + "\(error)\n\(source)"
                    )
                }
            case (_?, .success(let rendered)):
                XCTFail(
                    "template \(index): unexpected reference result, we rendered "
                        + "\(Value.string(rendered).representation)"
                )
            case (_?, .failure):
                XCTFail("template \(index): unexpected reference result")
            case (nil, .success(let rendered)):
                XCTFail(
                    "template \(index): jinja2 failed (\(result["error"]?.text ?? "")), we rendered "
                        + "\(Value.string(rendered).representation)"
                )
            case (nil, .failure(let error)):
                if case .string(let message)? = result["error"], message.hasPrefix("raised: ") {
                    XCTAssertEqual(error as? TemplateError, .raised(String(message.dropFirst(8))))
                }
            }
        }
        // What the engine leaves out is refused by name, never rendered otherwise.
        XCTAssertEqual(refused, ["{{ words | sort }}"])
    }

    func testConstructsOutsideTheSubsetAreRefusedByName() {
        let cases: [(String, String)] = [
            ("{% include 'other.jinja' %}", "the statement {% include %} (line 1)"),
            ("{% extends 'base' %}", "the statement {% extends %} (line 1)"),
            ("{{ x | wordcount }}", "the filter 'wordcount'"),
            ("{{ x is prime }}", "the test 'prime'"),
            ("{% call m() %}x{% endcall %}", "{% call %} blocks"),
            ("{% for x in y recursive %}{% endfor %}", "recursive for loops"),
            ("{{ '{}'.format(1) }}", "str.format()"),
        ]
        for (source, construct) in cases {
            XCTAssertThrowsError(try Template(source).render(["x": .string("a b"), "y": .list([])]), source) { error in
                XCTAssertEqual(error as? TemplateError, .unsupported(construct), source)
                XCTAssertEqual(
                    "\(error)", "the template uses \(construct), which ttl-train's template engine does not support")
            }
        }
    }

    func testJSONReadsAsPythonsJSONModule() throws {
        XCTAssertEqual(
            try JSON.parse(Array(#"{"b": 1, "a": [2.5, "é\u00e9\ud83d\ude00", null, true], "b": 3}"#.utf8)),
            .dict(
                Value.Dictionary([("b", .int(3)), ("a", .list([.double(2.5), .string("éé😀"), .none, .bool(true)]))])))
        for (bad, problem) in [
            ("{", "expecting a property name in double quotes at byte 2"), ("[1,]", "expecting a value at byte 4"),
            (#""\ud800""#, "a lone surrogate \\ud800 is no character at byte 8"),
            ("1 2", "extra data after the value at byte 3"),
            ("\"a\u{01}\"", "invalid control character in a string at byte 3"),
            ("99999999999999999999", "integer 99999999999999999999 is out of range at byte 1"),
        ] {
            XCTAssertThrowsError(try JSON.parse(Array(bad.utf8)), bad) { XCTAssertEqual("\($0)", problem, bad) }
        }
        XCTAssertThrowsError(
            try JSON.parse(Array((String(repeating: "[", count: 600) + String(repeating: "]", count: 600)).utf8)))
    }
}
