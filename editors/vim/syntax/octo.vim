" Vim syntax file
" Language:    octolang (.octo pipelines)
" Maintainer:  the octolang authors
" Keywords mirror grammar/octo.lark; tests/test_editors.py checks the keyword groups
" below list exactly the grammar's keywords. Vim highlights a keyword everywhere, while
" the grammar reserves block words only inside their block (a report may call max()).

if exists('b:current_syntax')
  finish
endif

" Python for `code """ ... """` blocks, when Vim has a Python syntax file.
syntax include @octoPython syntax/python.vim
unlet! b:current_syntax

syntax case match

" ---------------------------------------------------------------- keywords
syntax keyword octoDeclaration pipeline seed budget const model type units step gate report run
syntax keyword octoBlockKeyword from key rows vary trials limit llm compute
syntax keyword octoBlockKeyword system prompt output validate retries code timeout
syntax keyword octoBlockKeyword price out cached group by where max feedback list
syntax keyword octoControl if else for retry skip
syntax keyword octoOperatorWord and or not in is

syntax keyword octoType string int float bool
syntax keyword octoBoolean true false True False
syntax keyword octoNull None null
syntax keyword octoUnit unit
syntax match octoBuiltin "\<\(abs\|all\|any\|len\|round\|sorted\|str\|sum\|set\|range\|reversed\|zip\|enumerate\|sqrt\|log\|exp\|floor\|ceil\|isnan\|count\|mean\|median\|proportion\|percentile\|stdev\|variance\)\ze\s*("

" Names at their declarations.
syntax match octoDeclName "\(\<\(pipeline\|const\|type\|units\|report\)\s\+\)\@<=\h\w*"
syntax match octoStepName "\(\<step\s\+\)\@<=\h\w*"
syntax match octoModelName "\(^\s*model\s\+\)\@<=\h\w*"
syntax match octoField "\<\h\w*\ze\s*:[^=]"

" ---------------------------------------------------------------- literals
syntax match octoNumber "\<\d\(_\?\d\)*\>"
syntax match octoFloat "\<\d\(_\?\d\)*\.\d\(_\?\d\)*\([eE][+-]\?\d\+\)\?\>"
syntax match octoFloat "\<\d\(_\?\d\)*[eE][+-]\?\d\+\>"
syntax match octoMoney "\$\d\+\(\.\d\+\)\?\(/M\)\?"
syntax match octoDuration "\<\d\+\(\.\d\+\)\?\(ms\|s\|m\|h\)\>"
syntax match octoRangeDots "\.\."
syntax match octoTypeOperator "[|?]"

syntax match octoEscape "\\\([ntr0\"\\]\|u\x\{4}\)" contained
syntax region octoString start=+"+ skip=+\\.+ end=+"\|$+ oneline contains=octoEscape
syntax region octoLongString start=+"""+ end=+"""+

" Prompts and system messages are Jinja templates; code blocks are Python.
syntax region octoTemplate matchgroup=octoString start=+\(\<\(prompt\|system\)\s*\)\@<="""+ end=+"""+ contains=octoJinjaExpr,octoJinjaStmt,octoJinjaComment
syntax region octoTemplate matchgroup=octoString start=+\(\<\(prompt\|system\)\s*\)\@<="\(""\)\@!+ skip=+\\.+ end=+"+ oneline contains=octoEscape,octoJinjaExpr,octoJinjaStmt,octoJinjaComment
syntax region octoCode matchgroup=octoString start=+\(\<code\s*\)\@<="""+ end=+"""+ contains=@octoPython keepend

syntax region octoJinjaExpr matchgroup=octoJinjaDelim start=+{{-\?+ end=+-\?}}+ contained contains=octoJinjaWord,octoJinjaString,octoUnit
syntax region octoJinjaStmt matchgroup=octoJinjaDelim start=+{%[-+]\?+ end=+[-+]\?%}+ contained contains=octoJinjaWord,octoJinjaString,octoUnit
syntax region octoJinjaComment start=+{#+ end=+#}+ contained
syntax keyword octoJinjaWord contained if elif else endif for endfor in not and or is set endset with endwith macro endmacro call endcall filter endfilter block endblock raw endraw as recursive import include loop
syntax region octoJinjaString start=+'+ end=+'+ contained oneline
syntax region octoJinjaString start=+"+ end=+"+ contained oneline

syntax keyword octoTodo TODO FIXME XXX NOTE contained
syntax match octoComment "#.*$" contains=octoTodo

" ---------------------------------------------------------------- links
highlight default link octoDeclaration Statement
highlight default link octoBlockKeyword Keyword
highlight default link octoControl Conditional
highlight default link octoOperatorWord Operator
highlight default link octoType Type
highlight default link octoBoolean Boolean
highlight default link octoNull Constant
highlight default link octoUnit Identifier
highlight default link octoBuiltin Function
highlight default link octoDeclName Function
highlight default link octoStepName Function
highlight default link octoModelName Function
highlight default link octoField Identifier
highlight default link octoNumber Number
highlight default link octoFloat Float
highlight default link octoMoney Number
highlight default link octoDuration Number
highlight default link octoRangeDots Operator
highlight default link octoTypeOperator Operator
highlight default link octoEscape SpecialChar
highlight default link octoString String
highlight default link octoLongString String
highlight default link octoTemplate String
highlight default link octoJinjaDelim PreProc
highlight default link octoJinjaWord PreProc
highlight default link octoJinjaString String
highlight default link octoJinjaComment Comment
highlight default link octoComment Comment
highlight default link octoTodo Todo

let b:current_syntax = 'octo'
