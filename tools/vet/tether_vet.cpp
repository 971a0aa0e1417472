// tether-vet — catches the context anti-patterns of the Go tutorials in C++ code that uses
// tether, before it runs. A Clang LibTooling tool run over a compile_commands.json; each
// finding is printed like a compiler warning:
//
//   file:line:col: warning: <message> [tether-<check>]
//
// and the exit status is 1 when something was found (2 when a file could not be parsed).
// The checks and their precise definitions are in docs/vet.md; in short:
//
//   context-first          a Context parameter that is not first
//   context-ignored        a Context parameter the function never uses ("theater")
//   broken-chain           background()/todo()/Context{} inside a function that has a Context
//   loop-ignores-context   a loop that makes a blocking call and never consults a Context
//   coroutine-context-ref  a coroutine taking (or capturing) its Context by reference
//
// A finding is suppressed by `// tether-vet: ignore[<check>] <reason>` on its line or on the
// line before; the reason is required.

#include <clang/AST/ASTContext.h>
#include <clang/AST/DeclCXX.h>
#include <clang/AST/ExprCXX.h>
#include <clang/AST/ParentMapContext.h>
#include <clang/AST/RecursiveASTVisitor.h>
#include <clang/AST/StmtCXX.h>
#include <clang/ASTMatchers/ASTMatchFinder.h>
#include <clang/ASTMatchers/ASTMatchers.h>
#include <clang/Basic/SourceManager.h>
#include <clang/Frontend/FrontendActions.h>
#include <clang/Tooling/ArgumentsAdjusters.h>
#include <clang/Tooling/CommonOptionsParser.h>
#include <clang/Tooling/Tooling.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Regex.h>
#include <llvm/Support/VirtualFileSystem.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#ifndef TETHER_VET_RESOURCE_DIR
#define TETHER_VET_RESOURCE_DIR ""
#endif

namespace {

using namespace clang;
using namespace clang::ast_matchers;
namespace cl = llvm::cl;

// ---- command line ------------------------------------------------------------------------

cl::OptionCategory vet_category("tether-vet options");

cl::extrahelp common_help(clang::tooling::CommonOptionsParser::HelpMessage);
cl::extrahelp more_help(R"(
Checks: context-first, context-ignored, broken-chain, loop-ignores-context,
coroutine-context-ref (see docs/vet.md). Suppress one finding with a comment on its line or
the line before:  // tether-vet: ignore[<check>] <reason>

Without source files, every file of the compilation database is checked (see --files).
Exit status: 0 nothing found, 1 findings, 2 a file could not be parsed.
)");

cl::opt<std::string> checks_opt("checks", cl::desc("Comma-separated checks to run (default: all)"),
                                cl::init(""), cl::cat(vet_category));
cl::opt<std::string> header_filter(
    "header-filter",
    cl::desc("Also report findings in headers whose path matches this regex "
             "(default: only the files given / the main files)"),
    cl::init(""), cl::cat(vet_category));
cl::opt<std::string> files_filter(
    "files", cl::desc("Without source files: check only the database's files matching this regex"),
    cl::init(""), cl::cat(vet_category));
cl::list<std::string> blocking_opt(
    "blocking",
    cl::desc("Add a blocking function for loop-ignores-context (qualified name, e.g. "
             "mylib::fetch or ::read); repeatable, comma-separated"),
    cl::CommaSeparated, cl::cat(vet_category));
cl::opt<std::string> blocking_file(
    "blocking-file",
    cl::desc("Add the blocking functions listed in this file (one per line, # comments)"),
    cl::init(""), cl::cat(vet_category));
cl::opt<bool> no_default_blocking("no-default-blocking",
                                  cl::desc("Start from an empty list of blocking functions"),
                                  cl::init(false), cl::cat(vet_category));
cl::opt<bool> list_blocking("list-blocking",
                            cl::desc("Print the list of blocking functions and exit"),
                            cl::init(false), cl::cat(vet_category));
cl::opt<unsigned> jobs("j", cl::desc("Files parsed in parallel (default 1)"), cl::init(1),
                       cl::cat(vet_category));
cl::opt<bool> quiet("quiet", cl::desc("Do not print the per-run summary on stderr"),
                    cl::init(false), cl::cat(vet_category));

const char* const all_checks[] = {"context-first", "context-ignored", "broken-chain",
                                  "loop-ignores-context", "coroutine-context-ref"};

// Calls that can block for a long time. Fully qualified names; "::read" is the global
// (C library) one. Member functions are named through their class, template arguments
// omitted: "std::condition_variable::wait", "std::future::get".
const char* const default_blocking[] = {
    // sleeping
    "::sleep",
    "::usleep",
    "::nanosleep",
    "::clock_nanosleep",
    "std::this_thread::sleep_for",
    "std::this_thread::sleep_until",
    // sockets and descriptors
    "::read",
    "::readv",
    "::pread",
    "::recv",
    "::recvfrom",
    "::recvmsg",
    "::write",
    "::writev",
    "::send",
    "::sendto",
    "::sendmsg",
    "::accept",
    "::accept4",
    "::connect",
    "::poll",
    "::ppoll",
    "::select",
    "::pselect",
    "::epoll_wait",
    "::epoll_pwait",
    "::getaddrinfo",
    "::fgets",
    "::fread",
    "::getline",
    "::waitpid",
    "::wait",
    "::system",
    // threads
    "std::thread::join",
    "std::condition_variable::wait",
    "std::condition_variable_any::wait",
    "std::future::get",
    "std::future::wait",
    "std::shared_future::get",
    "std::shared_future::wait",
    "std::counting_semaphore::acquire",
    "std::latch::wait",
    "std::barrier::arrive_and_wait",
    // SQLite, PostgreSQL, libcurl
    "::sqlite3_step",
    "::sqlite3_exec",
    "::sqlite3_prepare_v2",
    "::sqlite3_blocking_step",
    "::PQexec",
    "::PQexecParams",
    "::PQexecPrepared",
    "::PQprepare",
    "::PQgetResult",
    "::PQconnectdb",
    "::PQconnectdbParams",
    "::PQping",
    "::curl_easy_perform",
    // Boost.Asio / Beast synchronous operations
    "boost::asio::read",
    "boost::asio::write",
    "boost::asio::read_until",
    "boost::asio::connect",
    "boost::asio::basic_stream_socket::read_some",
    "boost::asio::basic_stream_socket::write_some",
    "boost::asio::basic_stream_socket::receive",
    "boost::asio::basic_stream_socket::send",
    "boost::asio::basic_socket::connect",
    "boost::asio::basic_socket_acceptor::accept",
    "boost::asio::ip::basic_resolver::resolve",
    "boost::asio::io_context::run",
    "boost::beast::http::read",
    "boost::beast::http::write",
    "boost::beast::basic_stream::connect",
    "boost::beast::basic_stream::read_some",
    "boost::beast::basic_stream::write_some",
};

// ---- findings ------------------------------------------------------------------------------

struct Finding {
  std::string file;
  unsigned line = 0;
  unsigned col = 0;
  std::string check;
  std::string message;
  bool operator<(const Finding& o) const {
    // One finding per place and check: a call in a lambda that has a Context, written in a
    // function that has one, is seen from both.
    return std::tie(file, line, col, check) < std::tie(o.file, o.line, o.col, o.check);
  }
};

struct Shared {
  std::mutex mu;
  std::set<Finding> findings;  // a header's finding is seen once per TU that includes it
  std::set<std::string> enabled;
  std::set<std::string> blocking;
  std::set<std::string> main_files;  // the files given (absolute), always reported
  llvm::Regex headers;
  bool has_header_filter = false;
};

// ---- type and name helpers -----------------------------------------------------------------

// The qualified name without template arguments and without inline namespaces:
// "std::condition_variable::wait", "std::future::get", "::read" for a global function.
std::string plain_qualified_name(const NamedDecl* d) {
  std::vector<std::string> parts;
  parts.push_back(d->getNameAsString());
  for (const DeclContext* dc = d->getDeclContext(); dc; dc = dc->getParent()) {
    if (const auto* ns = dyn_cast<NamespaceDecl>(dc)) {
      if (ns->isInline()) continue;
      parts.push_back(ns->isAnonymousNamespace() ? "(anonymous)" : ns->getNameAsString());
    } else if (const auto* rd = dyn_cast<RecordDecl>(dc)) {
      parts.push_back(rd->getNameAsString());
    } else if (isa<LinkageSpecDecl>(dc)) {
      continue;
    } else if (isa<TranslationUnitDecl>(dc)) {
      break;
    } else {
      return "";  // local to a function: never a configured name
    }
  }
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (it != parts.rbegin()) out += "::";
    out += *it;
  }
  if (parts.size() == 1) out = "::" + out;
  return out;
}

// True for tether::Context, also through typedefs, const and references.
bool is_context_type(QualType t) {
  if (t.isNull()) return false;
  t = t.getNonReferenceType().getCanonicalType().getUnqualifiedType();
  const auto* rd = t->getAsCXXRecordDecl();
  if (!rd || rd->getName() != "Context") return false;
  const auto* ns = dyn_cast<NamespaceDecl>(rd->getDeclContext());
  if (!ns || ns->getName() != "tether") return false;
  return isa<TranslationUnitDecl>(ns->getDeclContext());
}

bool is_context_decl(const ValueDecl* d) { return d && is_context_type(d->getType()); }

// benchmark::State, Google Benchmark's per-run state.
bool is_benchmark_state(QualType t) {
  if (t.isNull()) return false;
  const auto* rd = t.getNonReferenceType().getCanonicalType()->getAsCXXRecordDecl();
  return rd && plain_qualified_name(rd) == "benchmark::State";
}

bool is_lambda_call_operator(const FunctionDecl* fd) {
  const auto* md = dyn_cast<CXXMethodDecl>(fd);
  return md && md->getParent()->isLambda();
}

std::vector<const ParmVarDecl*> context_params(const FunctionDecl* fd) {
  std::vector<const ParmVarDecl*> out;
  for (const ParmVarDecl* p : fd->parameters())
    if (is_context_decl(p)) out.push_back(p);
  return out;
}

// ---- body scanners -------------------------------------------------------------------------

// Every use of given parameters in a body, not counting `(void)p;`.
class UseFinder : public RecursiveASTVisitor<UseFinder> {
 public:
  explicit UseFinder(const ParmVarDecl* p) : param_(p) {}
  bool shouldVisitImplicitCode() const { return true; }
  bool shouldVisitTemplateInstantiations() const { return false; }
  bool TraverseCStyleCastExpr(CStyleCastExpr* e) {
    return void_cast(e) || Base::TraverseCStyleCastExpr(e);
  }
  bool TraverseCXXStaticCastExpr(CXXStaticCastExpr* e) {
    return void_cast(e) || Base::TraverseCXXStaticCastExpr(e);
  }
  bool TraverseCXXFunctionalCastExpr(CXXFunctionalCastExpr* e) {
    return void_cast(e) || Base::TraverseCXXFunctionalCastExpr(e);
  }
  bool VisitDeclRefExpr(DeclRefExpr* e) {
    if (e->getDecl() == param_) used = true;
    return !used;
  }
  bool used = false;

 private:
  using Base = RecursiveASTVisitor<UseFinder>;
  // `(void)ctx;` silences -Wunused-parameter; it is not a use of the context.
  bool void_cast(ExplicitCastExpr* e) {
    if (!e->getTypeAsWritten()->isVoidType()) return false;
    const Expr* sub = e->getSubExpr()->IgnoreParenImpCasts();
    const auto* ref = dyn_cast<DeclRefExpr>(sub);
    return ref && ref->getDecl() == param_;  // skip it: true = handled, keep going
  }
  const ParmVarDecl* param_;
};

// Does a statement mention any Context: a variable, parameter, structured binding or data
// member of Context type, or a call returning a Context (ctx_of(req), r.context())?
class ContextMention : public RecursiveASTVisitor<ContextMention> {
 public:
  bool shouldVisitImplicitCode() const { return true; }
  bool VisitDeclRefExpr(DeclRefExpr* e) {
    if (is_context_decl(e->getDecl())) found = true;
    return !found;
  }
  bool VisitMemberExpr(MemberExpr* e) {
    if (is_context_decl(e->getMemberDecl())) found = true;
    return !found;
  }
  bool VisitCallExpr(CallExpr* e) {
    if (is_context_type(e->getType())) found = true;  // returns a Context (by value or ref)
    return !found;
  }
  bool VisitLambdaExpr(LambdaExpr* e) {
    for (const LambdaCapture& c : e->captures())
      if (c.capturesVariable() && is_context_decl(c.getCapturedVar())) found = true;
    return !found;
  }
  bool found = false;
};

bool mentions_context(Stmt* s) {
  if (!s) return false;
  ContextMention m;
  m.TraverseStmt(s);
  return m.found;
}

// The first call to a blocking function in a loop, not looking into nested lambdas (they
// run elsewhere) nor nested loops (they are judged on their own).
class BlockingCallFinder : public RecursiveASTVisitor<BlockingCallFinder> {
 public:
  explicit BlockingCallFinder(const std::set<std::string>& names) : names_(names) {}
  bool shouldVisitImplicitCode() const { return false; }
  bool TraverseLambdaExpr(LambdaExpr*) { return true; }
  bool TraverseForStmt(ForStmt* s) { return top(s) && Base::TraverseForStmt(s); }
  bool TraverseWhileStmt(WhileStmt* s) { return top(s) && Base::TraverseWhileStmt(s); }
  bool TraverseDoStmt(DoStmt* s) { return top(s) && Base::TraverseDoStmt(s); }
  bool TraverseCXXForRangeStmt(CXXForRangeStmt* s) {
    return top(s) && Base::TraverseCXXForRangeStmt(s);
  }
  bool VisitCallExpr(CallExpr* e) {
    if (const FunctionDecl* fd = e->getDirectCallee()) {
      std::string name = plain_qualified_name(fd);
      if (!name.empty() && names_.count(name)) {
        call = e;
        callee = name;
        return false;
      }
    }
    return true;
  }
  void run(Stmt* loop) {
    root_ = loop;
    TraverseStmt(loop);
  }
  const CallExpr* call = nullptr;
  std::string callee;

 private:
  using Base = RecursiveASTVisitor<BlockingCallFinder>;
  bool top(Stmt* s) const { return s == root_; }
  const std::set<std::string>& names_;
  Stmt* root_ = nullptr;
};

// ---- the checker ---------------------------------------------------------------------------

class Checker : public MatchFinder::MatchCallback {
 public:
  explicit Checker(Shared& shared) : shared_(shared) {}

  void run(const MatchFinder::MatchResult& result) override {
    const auto* fd = result.Nodes.getNodeAs<FunctionDecl>("fn");
    // Spelled-in-source traversal does not visit a lambda's call operator as a declaration.
    if (const auto* lambda = result.Nodes.getNodeAs<LambdaExpr>("lambda"))
      fd = lambda->getCallOperator();
    if (!fd) return;
    ASTContext& ast = *result.Context;
    const SourceManager& sm = ast.getSourceManager();
    if ((fd->isImplicit() && !is_lambda_call_operator(fd)) ||
        sm.isInSystemHeader(sm.getFileLoc(fd->getLocation())))
      return;
    // Instantiations are judged through their template.
    if (fd->isTemplateInstantiation()) return;

    auto params = context_params(fd);
    if (!params.empty()) {
      check_first(fd, params, ast);
      if (fd->doesThisDeclarationHaveABody() && !fd->isDefaulted() && !fd->isDeleted()) {
        check_ignored(fd, params, ast);
        check_chain(fd, ast);
        check_loops(fd, ast);
        check_coroutine_params(fd, params, ast);
      }
    }
    if (fd->doesThisDeclarationHaveABody() && is_lambda_call_operator(fd))
      check_coroutine_captures(fd, ast);
  }

 private:
  bool enabled(const char* check) const { return shared_.enabled.count(check) != 0; }

  // `decl`, when given, is the declaration the finding belongs to: a suppression may also sit
  // on the line before it (a parameter of a multi-line signature).
  void report(ASTContext& ast, SourceLocation loc, const char* check, std::string message,
              const FunctionDecl* decl = nullptr) {
    if (!enabled(check)) return;
    const SourceManager& sm = ast.getSourceManager();
    loc = sm.getFileLoc(loc);
    if (loc.isInvalid() || sm.isInSystemHeader(loc)) return;
    PresumedLoc p = sm.getPresumedLoc(loc);
    if (p.isInvalid()) return;
    // An absolute path (compile commands often name files relative to their directory),
    // for editors and for --header-filter.
    std::string file = p.getFilename();
    if (const FileEntry* fe = sm.getFileEntryForID(sm.getFileID(loc));
        fe && !fe->tryGetRealPathName().empty())
      file = fe->tryGetRealPathName().str();
    if (!reportable(sm, loc, file)) return;
    unsigned line = p.getLine();
    if (suppressed(sm, loc, line, check, file)) return;
    if (decl) {
      SourceLocation start = decl->getBeginLoc();
      if (const FunctionTemplateDecl* t = decl->getDescribedFunctionTemplate())
        start = t->getBeginLoc();
      start = sm.getFileLoc(start);
      if (start.isValid() && sm.getFileID(start) == sm.getFileID(loc) &&
          suppressed(sm, start, sm.getPresumedLoc(start).getLine(), check, file))
        return;
    }
    std::lock_guard<std::mutex> lock(shared_.mu);
    shared_.findings.insert({file, line, p.getColumn(), check, std::move(message)});
  }

  bool reportable(const SourceManager& sm, SourceLocation loc, const std::string& file) {
    if (sm.isInMainFile(loc)) return true;
    std::lock_guard<std::mutex> lock(shared_.mu);
    if (shared_.main_files.count(file)) return true;
    return shared_.has_header_filter && shared_.headers.match(file);
  }

  // `// tether-vet: ignore[check,...] reason` on the finding's line or the line before.
  // A marker without a reason suppresses nothing and is itself reported.
  bool suppressed(const SourceManager& sm, SourceLocation loc, unsigned line, const char* check,
                  const std::string& file) {
    FileID fid = sm.getFileID(loc);
    bool invalid = false;
    llvm::StringRef buf = sm.getBufferData(fid, &invalid);
    if (invalid) return false;
    for (unsigned l : {line, line - 1}) {
      if (l == 0) continue;
      llvm::StringRef text = line_text(buf, l);
      size_t at = text.find("tether-vet: ignore[");
      if (at == llvm::StringRef::npos) continue;
      llvm::StringRef rest = text.substr(at + strlen("tether-vet: ignore["));
      size_t close = rest.find(']');
      if (close == llvm::StringRef::npos) continue;
      llvm::SmallVector<llvm::StringRef, 4> names;
      rest.substr(0, close).split(names, ',');
      bool match = false;
      for (llvm::StringRef n : names) match |= n.trim() == check;
      if (!match) continue;
      if (rest.substr(close + 1).trim().empty()) {
        std::lock_guard<std::mutex> lock(shared_.mu);
        shared_.findings.insert({file, l, static_cast<unsigned>(at + 1), "suppression",
                                 "a tether-vet suppression needs a reason after the ']'"});
        return false;
      }
      return true;
    }
    return false;
  }

  static llvm::StringRef line_text(llvm::StringRef buf, unsigned line) {
    size_t pos = 0;
    for (unsigned l = 1; l < line; ++l) {
      pos = buf.find('\n', pos);
      if (pos == llvm::StringRef::npos) return {};
      ++pos;
    }
    return buf.substr(pos, buf.find('\n', pos) - pos);
  }

  static std::string fn_name(const FunctionDecl* fd) {
    if (is_lambda_call_operator(fd)) return "lambda";
    if (const auto* c = dyn_cast<CXXConstructorDecl>(fd))
      return "constructor of '" + c->getParent()->getNameAsString() + "'";
    return "'" + fd->getNameAsString() + "'";
  }

  static std::string param_name(const ParmVarDecl* p) {
    return p->getName().empty() ? std::string("an unnamed Context parameter")
                                : "parameter '" + p->getNameAsString() + "'";
  }

  static bool is_virtual(const FunctionDecl* fd) {
    const auto* md = dyn_cast<CXXMethodDecl>(fd);
    return md && md->isVirtual();
  }

  // context-first: every Context parameter precedes every other parameter. Overloaded
  // operators (order fixed by the language) and overrides (order fixed by the base) are
  // exempt; only a function's first declaration is reported.
  void check_first(const FunctionDecl* fd, const std::vector<const ParmVarDecl*>& params,
                   ASTContext& ast) {
    if ((fd->isOverloadedOperator() && !is_lambda_call_operator(fd)) || !fd->isFirstDecl()) return;
    if (const auto* md = dyn_cast<CXXMethodDecl>(fd); md && md->size_overridden_methods() > 0)
      return;
    if (const auto* ctor = dyn_cast<CXXConstructorDecl>(fd);
        ctor && (ctor->isCopyOrMoveConstructor()))
      return;
    unsigned i = 0;
    for (const ParmVarDecl* p : fd->parameters()) {
      if (!is_context_decl(p)) break;
      ++i;
    }
    // Google Benchmark's BENCHMARK_CAPTURE passes its State first (revive likewise lets
    // *testing.T precede the context).
    if (i == 0 && fd->getNumParams() > 0 && is_benchmark_state(fd->getParamDecl(0)->getType())) {
      for (const ParmVarDecl* p : fd->parameters().drop_front()) {
        if (!is_context_decl(p)) break;
        ++i;
      }
      if (i > 0) ++i;
    }
    for (const ParmVarDecl* p : params) {
      if (p->getFunctionScopeIndex() < i) continue;
      report(ast, p->getLocation().isValid() ? p->getBeginLoc() : fd->getLocation(),
             "context-first",
             "the Context " + param_name(p) + " of " + fn_name(fd) +
                 " is not its first parameter; pass the context first",
             fd);
      return;
    }
  }

  // context-ignored: a Context parameter that the body never refers to.
  void check_ignored(const FunctionDecl* fd, const std::vector<const ParmVarDecl*>& params,
                     ASTContext& ast) {
    for (const ParmVarDecl* p : params) {
      // An unnamed Context in a virtual function or a lambda says "this implementation
      // needs none": the signature is imposed by an interface or a callback slot.
      if (p->getName().empty() && (is_virtual(fd) || is_lambda_call_operator(fd))) continue;
      bool used = false;
      if (!p->getName().empty()) {
        UseFinder finder(p);
        finder.TraverseStmt(fd->getBody());
        if (const auto* ctor = dyn_cast<CXXConstructorDecl>(fd))
          for (const CXXCtorInitializer* init : ctor->inits())
            if (!finder.used && init->getInit()) finder.TraverseStmt(init->getInit());
        used = finder.used;
      }
      if (used) continue;
      report(ast, p->getLocation().isValid() ? p->getBeginLoc() : fd->getLocation(),
             "context-ignored",
             fn_name(fd) + " takes " + param_name(p) +
                 " and never uses it: check it, pass it on, or drop it",
             fd);
    }
  }

  // broken-chain: a fresh root context made inside a function that has one.
  void check_chain(const FunctionDecl* fd, ASTContext& ast) {
    struct Finder : RecursiveASTVisitor<Finder> {
      bool shouldVisitTemplateInstantiations() const { return false; }
      // A local class's member functions are functions of their own.
      bool TraverseCXXRecordDecl(CXXRecordDecl* rd) {
        return rd->isLambda() ? Base::TraverseCXXRecordDecl(rd) : true;
      }
      bool VisitCallExpr(CallExpr* e) {
        if (const FunctionDecl* callee = e->getDirectCallee()) {
          std::string n = plain_qualified_name(callee);
          if (n == "tether::background" || n == "tether::todo")
            hits.push_back({e->getBeginLoc(), n + "()"});
        }
        return true;
      }
      bool VisitCXXConstructExpr(CXXConstructExpr* e) {
        const CXXConstructorDecl* c = e->getConstructor();
        if (c && c->isDefaultConstructor() && is_context_type(e->getType()) && e->getNumArgs() == 0)
          hits.push_back({e->getBeginLoc(), "a default-constructed tether::Context"});
        return true;
      }
      using Base = RecursiveASTVisitor<Finder>;
      std::vector<std::pair<SourceLocation, std::string>> hits;
    } finder;
    finder.TraverseStmt(fd->getBody());
    for (auto& [loc, what] : finder.hits)
      report(ast, loc, "broken-chain",
             fn_name(fd) + " has a Context but makes a new root with " + what +
                 ", cutting the chain; derive from the context it was given "
                 "(tether::without_cancel(ctx) to outlive it)");
  }

  // loop-ignores-context: a loop with a blocking call and no Context in sight.
  void check_loops(const FunctionDecl* fd, ASTContext& ast) {
    struct Loops : RecursiveASTVisitor<Loops> {
      bool shouldVisitTemplateInstantiations() const { return false; }
      bool TraverseCXXRecordDecl(CXXRecordDecl* rd) {
        return rd->isLambda() ? Base::TraverseCXXRecordDecl(rd) : true;
      }
      bool VisitForStmt(ForStmt* s) { return add(s); }
      bool VisitWhileStmt(WhileStmt* s) { return add(s); }
      bool VisitDoStmt(DoStmt* s) { return add(s); }
      bool VisitCXXForRangeStmt(CXXForRangeStmt* s) { return add(s); }
      bool add(Stmt* s) {
        loops.push_back(s);
        return true;
      }
      using Base = RecursiveASTVisitor<Loops>;
      std::vector<Stmt*> loops;
    } loops;
    loops.TraverseStmt(fd->getBody());
    for (Stmt* loop : loops.loops) {
      BlockingCallFinder blocking(shared_.blocking);
      blocking.run(loop);
      if (!blocking.call) continue;
      if (mentions_context(loop)) continue;
      report(ast, loop->getBeginLoc(), "loop-ignores-context",
             "this loop in " + fn_name(fd) + " calls blocking '" + blocking.callee +
                 "' but never consults a Context; check ctx.err() each iteration or use a "
                 "call that takes the context");
    }
  }

  // coroutine-context-ref: a coroutine's reference parameter dangles after the first
  // suspension if the caller's Context was a temporary or goes out of scope.
  void check_coroutine_params(const FunctionDecl* fd, const std::vector<const ParmVarDecl*>& params,
                              ASTContext& ast) {
    if (!isa_and_nonnull<CoroutineBodyStmt>(fd->getBody())) return;
    for (const ParmVarDecl* p : params) {
      if (!p->getType()->isReferenceType()) continue;
      report(ast, p->getBeginLoc(), "coroutine-context-ref",
             "coroutine " + fn_name(fd) + " takes the Context " + param_name(p) +
                 " by reference; it may dangle after the first suspension: take "
                 "tether::Context by value",
             fd);
    }
  }

  // ... and a coroutine lambda capturing a Context by reference.
  void check_coroutine_captures(const FunctionDecl* fd, ASTContext& ast) {
    if (!isa_and_nonnull<CoroutineBodyStmt>(fd->getBody())) return;
    const CXXRecordDecl* closure = cast<CXXMethodDecl>(fd)->getParent();
    for (const LambdaCapture& c : closure->captures()) {
      if (!c.capturesVariable() || c.getCaptureKind() != LCK_ByRef) continue;
      if (!is_context_decl(c.getCapturedVar())) continue;
      report(ast, c.getLocation().isValid() ? c.getLocation() : fd->getLocation(),
             "coroutine-context-ref",
             "coroutine lambda captures the Context '" + c.getCapturedVar()->getNameAsString() +
                 "' by reference; it may dangle after the first suspension: capture it by value");
    }
  }

  Shared& shared_;
};

// ---- driver --------------------------------------------------------------------------------

// g++ flags that clang does not accept; the rest of a GCC command line parses as is.
clang::tooling::ArgumentsAdjuster gcc_flags_adjuster() {
  return [](const clang::tooling::CommandLineArguments& args, llvm::StringRef) {
    clang::tooling::CommandLineArguments out;
    for (const std::string& a : args) {
      llvm::StringRef s(a);
      if (s == "-fcoroutines" || s == "-fno-semantic-interposition" || s == "-Wno-tsan" ||
          s.startswith("-fconcepts-diagnostics-depth") || s.startswith("-fmax-include-depth") ||
          s == "-fno-tree-vectorize" || s.startswith("-fsanitize") ||
          s == "-fno-sanitize-recover=all")
        continue;
      out.push_back(a);
    }
    return out;
  };
}

std::set<std::string> split_checks(const std::string& s) {
  std::set<std::string> out;
  llvm::SmallVector<llvm::StringRef, 8> parts;
  llvm::StringRef(s).split(parts, ',', -1, false);
  for (llvm::StringRef p : parts) {
    p = p.trim();
    if (p.consume_front("tether-")) {
    }
    out.insert(p.str());
  }
  return out;
}

}  // namespace

int main(int argc, const char** argv) {
  auto parser =
      clang::tooling::CommonOptionsParser::create(argc, argv, vet_category, llvm::cl::ZeroOrMore);
  if (!parser) {
    llvm::errs() << llvm::toString(parser.takeError());
    return 2;
  }
  Shared shared;
  if (checks_opt.empty()) {
    for (const char* c : all_checks) shared.enabled.insert(c);
  } else {
    shared.enabled = split_checks(checks_opt);
    for (const std::string& c : shared.enabled) {
      if (std::find(std::begin(all_checks), std::end(all_checks), c) == std::end(all_checks)) {
        llvm::errs() << "tether-vet: unknown check '" << c << "'\n";
        return 2;
      }
    }
  }
  if (!no_default_blocking)
    for (const char* b : default_blocking) shared.blocking.insert(b);
  auto add_blocking = [&](llvm::StringRef name) {
    name = name.trim();
    if (name.empty() || name.startswith("#")) return;
    if (!name.contains("::")) {
      shared.blocking.insert("::" + name.str());
    } else if (name.startswith("::") && name.drop_front(2).contains("::")) {
      shared.blocking.insert(name.drop_front(2).str());
    } else {
      shared.blocking.insert(name.str());
    }
  };
  for (const std::string& b : blocking_opt) add_blocking(b);
  if (!blocking_file.empty()) {
    std::ifstream in(blocking_file);
    if (!in) {
      llvm::errs() << "tether-vet: cannot read " << blocking_file << "\n";
      return 2;
    }
    for (std::string line; std::getline(in, line);) add_blocking(line);
  }
  if (list_blocking) {
    for (const std::string& b : shared.blocking) llvm::outs() << b << "\n";
    return 0;
  }
  if (!header_filter.empty()) {
    shared.headers = llvm::Regex(header_filter);
    std::string err;
    if (!shared.headers.isValid(err)) {
      llvm::errs() << "tether-vet: bad --header-filter: " << err << "\n";
      return 2;
    }
    shared.has_header_filter = true;
  }

  std::vector<std::string> files = parser->getSourcePathList();
  // Without source files CommonOptionsParser loads no database: load -p's (default ".").
  std::unique_ptr<clang::tooling::CompilationDatabase> own_db;
  if (files.empty()) {
    std::string build_path = ".";
    for (int i = 1; i < argc; ++i) {
      llvm::StringRef a(argv[i]);
      if (a == "--") break;
      if ((a == "-p" || a == "--p") && i + 1 < argc) build_path = argv[i + 1];
      if (a.consume_front("-p=") || a.consume_front("--p=")) build_path = a.str();
    }
    std::string err;
    own_db = clang::tooling::CompilationDatabase::autoDetectFromDirectory(build_path, err);
    if (!own_db) {
      llvm::errs() << "tether-vet: " << err << "\n";
      return 2;
    }
  }
  clang::tooling::CompilationDatabase& db = own_db ? *own_db : parser->getCompilations();
  if (files.empty()) {
    llvm::Regex filter(files_filter.empty() ? std::string(".") : std::string(files_filter));
    for (const std::string& f : db.getAllFiles())
      if (filter.match(f)) files.push_back(f);
    if (files.empty()) {
      llvm::errs() << "tether-vet: no files to check\n";
      return 2;
    }
  }
  for (const std::string& f : files) {
    llvm::SmallString<256> abs(f);
    llvm::sys::fs::make_absolute(abs);
    llvm::sys::path::remove_dots(abs, true);
    shared.main_files.insert(std::string(abs));
  }

  std::atomic<size_t> next{0};
  std::atomic<bool> parse_failed{false};
  auto worker = [&] {
    for (size_t i = next++; i < files.size(); i = next++) {
      // A physical file system per tool: the default one follows the process's working
      // directory, which ClangTool changes per command (a race between threads).
      clang::tooling::ClangTool tool(db, {files[i]},
                                     std::make_shared<clang::PCHContainerOperations>(),
                                     llvm::vfs::createPhysicalFileSystem());
      tool.appendArgumentsAdjuster(gcc_flags_adjuster());
      tool.appendArgumentsAdjuster(clang::tooling::getClangSyntaxOnlyAdjuster());
      tool.appendArgumentsAdjuster(clang::tooling::getClangStripOutputAdjuster());
      tool.appendArgumentsAdjuster(clang::tooling::getClangStripDependencyFileAdjuster());
      // Compiler warnings are not ours to report; errors still are.
      std::vector<std::string> extra{"-w"};
      if (std::string(TETHER_VET_RESOURCE_DIR).size())
        extra.push_back("-resource-dir=" TETHER_VET_RESOURCE_DIR);
      tool.appendArgumentsAdjuster(clang::tooling::getInsertArgumentAdjuster(
          extra, clang::tooling::ArgumentInsertPosition::END));
      Checker checker(shared);
      MatchFinder finder;
      finder.addMatcher(traverse(TK_IgnoreUnlessSpelledInSource, functionDecl().bind("fn")),
                        &checker);
      finder.addMatcher(traverse(TK_IgnoreUnlessSpelledInSource, lambdaExpr().bind("lambda")),
                        &checker);
      if (tool.run(clang::tooling::newFrontendActionFactory(&finder).get()) != 0)
        parse_failed = true;
    }
  };
  unsigned n = std::max(1u, std::min<unsigned>(jobs, files.size()));
  std::vector<std::thread> threads;
  for (unsigned t = 1; t < n; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();

  for (const Finding& f : shared.findings)
    llvm::outs() << f.file << ":" << f.line << ":" << f.col << ": warning: " << f.message
                 << " [tether-" << f.check << "]\n";
  llvm::outs().flush();
  if (!quiet)
    llvm::errs() << "tether-vet: " << files.size() << " file(s), " << shared.findings.size()
                 << " finding(s)" << (parse_failed ? ", some files failed to parse" : "") << "\n";
  if (parse_failed) return 2;
  return shared.findings.empty() ? 0 : 1;
}
