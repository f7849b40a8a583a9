/// The parsed template: statements and expressions of the part of jinja2 chat templates use.
indirect enum Expression {
    case literal(Value)
    case name(String)
    case list([Expression])
    case tuple([Expression])
    case dict([(Expression, Expression)])
    case attribute(Expression, String)
    case item(Expression, Expression)
    case slice(Expression, start: Expression?, stop: Expression?, step: Expression?)
    case call(Expression, [Expression], [(String, Expression)])
    case filter(Expression, name: String, [Expression], [(String, Expression)])
    case test(Expression, name: String, negated: Bool, [Expression])
    case unary(String, Expression)
    case binary(String, Expression, Expression)
    case and(Expression, Expression)
    case or(Expression, Expression)
    /// `a < b <= c`: each comparison with the next operand.
    case compare(Expression, [(String, Expression)])
    case conditional(Expression, condition: Expression, otherwise: Expression?)
}

/// What an assignment or a `for` binds: a name, `ns.attribute`, or a tuple of names.
enum Target {
    case name(String)
    case attribute(String, String)
    case names([String])
}

indirect enum Statement {
    case text(String)
    case output(Expression)
    case ifChain([(Expression, [Statement])], otherwise: [Statement])
    case forLoop(Target, Expression, filter: Expression?, body: [Statement], otherwise: [Statement])
    case set(Target, Expression)
    case setBlock(String, [Statement])
    case macro(name: String, parameters: [(String, Expression?)], body: [Statement])
    case callBlock(Expression, body: [Statement])
    case filterBlock(name: String, [Expression], body: [Statement])
    case `break`
    case `continue`
}
