with

source as (

    select * from {{ source('evals', 'model_categories') }}

),

renamed as (

    select
        category,
        model

    from source

)

select * from renamed
